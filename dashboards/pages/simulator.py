"""Trainee simulator: new agents practise on customers mined from this warehouse and are scored as QA scores agents.

A thin view over ``ml.simulator`` (personas, the customer's reactions, the scores, the curriculum). Each
session is written to the landing folder (``warehouse.training_log``) after every reply, so the progress
tab, read from the published snapshot, shows every trainee's sessions after the next build.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime, timezone

import streamlit as st

from dashboards.access import TRAINING_ROLES, current_user, has_role
from dashboards.data import has_table, query, snapshot
from dashboards.widgets import empty_state, escape_markdown as esc
from service_insight.settings import get_settings


@st.cache_resource(max_entries=2, show_spinner="Mining customers from the warehouse (once per build)…")
def _bank(version: str):
    from ml.simulator import bank_from_settings

    return bank_from_settings()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _history(trainee: str) -> list[tuple[str, int, bool]]:
    """The trainee's past sessions from the snapshot: what the curriculum starts from."""
    if not has_table("fct_training_sessions"):
        return []
    rows = query("select intent, difficulty, is_success from marts.fct_training_sessions where trainee = ? "
                 "order by session_number", (trainee,))
    return [(r.intent, int(r.difficulty), bool(r.is_success)) for r in rows.itertuples()]


def _save(state: dict) -> None:
    from dataclasses import asdict

    from warehouse.training_log import session_row, write_session

    session = state["session"]
    row = session_row(state["id"], state["trainee"], state["started_at"], _now(),
                      session.summary(bank.empathy_source), session.case.persona.conversation_id,
                      session.customer, [asdict(t) for t in session.turns], state["picked_by"])
    try:
        write_session(get_settings().landing_dir, row)
    except OSError as exc:
        st.warning(f"This session could not be written to the landing folder ({exc}); it will not count in the "
                   "progress figures.", icon=":material/warning:")


st.title("Trainee simulator")
if not has_role(TRAINING_ROLES):
    st.info("The simulated customers speak with the words of real (masked) conversations: the simulator is open to "
            "trainees, supervisors, data stewards and admins.", icon=":material/lock:")
    st.stop()
# A trainee sees their own progress only; supervisors and above see the cohort.
own_only = not has_role(tuple(r for r in TRAINING_ROLES if r != "trainee"))
ref = snapshot()
if ref is None:
    empty_state()
    st.stop()
bank = _bank(ref.version)
if bank is None or not bank.personas:
    st.info("No customer to practise with yet: a persona is a conversation with an intent of record whose intent has "
            "reference answers (knowledge-base steps, or agent replies that closed resolved contacts). Load a "
            "knowledge base or let the next build find resolved contacts.", icon=":material/school:")
    st.stop()

trainee = current_user() or st.text_input("Your name", key="sim_trainee",
                                          help="With logins (SI_AUTH_FILE) sessions are attributed to the signed-in "
                                               "user; without, to the name typed here.")
if not trainee:
    st.caption("Type your name to start: every session is attributed to its trainee.")
    st.stop()

practise, progress = st.tabs(["Practise", "Progress"])
with practise:
    from ml.simulator import MOODS, Curriculum

    if st.session_state.get("sim_curriculum_for") != trainee:
        st.session_state["sim_curriculum"] = Curriculum(bank.intents, seed=zlib.crc32(trainee.encode()),
                                                        history=_history(trainee))
        st.session_state["sim_curriculum_for"] = trainee
        st.session_state.pop("sim", None)
    curriculum: Curriculum = st.session_state["sim_curriculum"]
    state = st.session_state.get("sim")
    if state is None or state["session"].over:
        how = st.radio("Next case", ["The curriculum picks (aims at cases you pass about 70% of the time)",
                                     "I choose"], key="sim_how")
        if how.startswith("I choose"):
            intent = st.selectbox("Intent", bank.intents, key="sim_intent")
            difficulty = st.select_slider("Difficulty", [1, 2, 3], key="sim_difficulty",
                                          help="1: calm, tells everything; 3: angry, holds facts back, little patience.")
            picked_by = "trainee"
        else:
            intent, difficulty = curriculum.next_case()
            picked_by = "curriculum"
            st.caption(f"Next: {esc(intent)} at difficulty {difficulty} ({len(curriculum.history)} session(s) so far).")
        if st.button("Start a case", type="primary"):
            seed = zlib.crc32(f"{trainee}:{len(curriculum.history)}:{uuid.uuid4()}".encode())
            case = bank.persona(seed, intent).at(difficulty)
            state = {"id": uuid.uuid4().hex[:12], "trainee": trainee, "started_at": _now(), "picked_by": picked_by,
                     "session": bank.start(case, seed), "recorded": False}
            st.session_state["sim"] = state
    if state is not None:
        session = state["session"]
        persona = session.case.persona
        st.caption(f"Case: {esc(persona.intent)} · {esc(persona.language)} · difficulty {session.case.difficulty} · "
                   f"mined from {esc(persona.conversation_id)}")
        text = None if session.over else st.chat_input("Your reply to the customer")
        if text:
            bank.reply(session, text)
            _save(state)
        with st.chat_message("user", avatar=":material/person:"):
            st.write(session.customer[0])
        for turn, said in zip(session.turns, session.customer[1:]):
            with st.chat_message("assistant", avatar=":material/headset_mic:"):
                st.write(turn.reply)
                notes = [f"answer match {turn.similarity:.2f}" + (" (answers the need)" if turn.helpful else "")]
                notes += ["empathy"] * turn.empathetic + ["asks"] * turn.asks
                notes += [f"forbidden: {', '.join(turn.forbidden)}"] if turn.forbidden else []
                st.caption(" · ".join(notes) + f" · customer {turn.mood_before} → {turn.mood_after}")
            with st.chat_message("user", avatar=":material/person:"):
                st.write(said)
        if session.over:
            summary = session.summary(bank.empathy_source)
            if not state["recorded"]:
                curriculum.record(persona.intent, session.case.difficulty,
                                  bool(summary["goal_met"] and summary["policy_compliant"]))
                state["recorded"] = True
            (st.success if summary["goal_met"] else st.error)(
                "Goal met: the customer got what they needed." if summary["goal_met"] else
                "The customer left without an answer.")
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Score", f"{summary['score']:.2f}")
            c2.metric("Replies", summary["replies"])
            c3.metric("Policy", "compliant" if summary["policy_compliant"] else "forbidden phrase")
            c4.metric("Empathy when upset", {True: "shown", False: "missing", None: "not needed"}[summary["empathy_shown"]])
            st.caption(f"Empathy and questions read by the {esc(bank.empathy_source)}; an answer counts when it is at "
                       f"least {bank.helpful_threshold:.2f} similar to the intent's reference answers.")
        else:
            st.caption(f"Customer is {MOODS[session.mood]}; patience left: {session.patience}.")

with progress:
    if not has_table("fct_trainee_progress"):
        st.info("This snapshot was built before practice sessions were analysed: the next build adds them.")
    else:
        cohort = query("select * from marts.fct_trainee_progress where not ? or trainee = ? order by trainee",
                       (own_only, trainee))
        if cohort.empty:
            st.info("No practice session has been built into the warehouse yet: sessions appear here after the next "
                    "build.", icon=":material/school:")
        else:
            reached = cohort["sessions_to_bar"].dropna()
            c1, c2, c3 = st.columns(3)
            c1.metric("Trainees" if not own_only else "Your sessions",
                      len(cohort) if not own_only else int(cohort["sessions"].sum()))
            c2.metric("At the bar", int(cohort["at_bar_now"].fillna(False).sum()))
            c3.metric("Sessions to the bar (median)", f"{reached.median():.0f}" if len(reached) else "—",
                      help="Not reached by anyone yet." if reached.empty else None)
            st.dataframe(cohort, hide_index=True)
            mine = query("select session_number, score, recent_success_rate from marts.fct_training_sessions "
                         "where trainee = ? order by session_number", (trainee,))
            if not mine.empty:
                st.caption(f"{esc(trainee)}: score and recent success per session")
                st.line_chart(mine.set_index("session_number")[["score", "recent_success_rate"]])
