"""Review: label contacts blind, two reviewers each, and settle their disagreements.

Who: supervisors (and data stewards, admins): reviewers read conversation text. What it writes:
labels as landing files (``annotations``, ``turn_labels``, see warehouse/review.py), attributed to
the signed-in reviewer; the next build loads them, counts what two reviewers agree on (or a third
settles) and trains the intent, emotion and quality-act models on it. Agreement (kappa) per kind is
on the Data quality page.

Which contacts: first those one other reviewer has labelled (a pair to complete), then the ones
the models are least sure about: the lowest intent confidence, or, before any model is trained,
the smallest zero-shot margin: uncertainty sampling. Nothing of another reviewer's labels, nor the
models' readings, is shown while labelling (blind); adjudication shows the two labels side by side.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.access import current_user, has_role, TEXT_ROLES
from dashboards.data import has_table, query
from dashboards.transcript import render_transcript
from dashboards.widgets import empty_state, escape_markdown as esc
from service_insight.settings import get_settings
from warehouse.review import Label, ReviewRefused, check_reviewer, disagreements, merge, queue, record_labels, \
    written_labels

# Used only when neither the taxonomy, the readings nor earlier labels name any: Ekman's six and neutral
# for emotions (as GoEmotions groups them), the quality checks' acts for agent turns.
DEFAULT_EMOTIONS = ("neutral", "joy", "surprise", "sadness", "fear", "anger", "disgust")
DEFAULT_ACTS = ("greeting", "identity_check", "disclosure", "empathy", "hold", "solution", "ticket",
                "forbidden_language", "confirmation", "closing", "other")
NOT_LABELLED = "— not labelled —"
NEW_INTENT = "+ a new intent…"

st.title("Review")
if not has_role(TEXT_ROLES):
    st.info("Reviewing reads conversation text: it is open to supervisors, data stewards and admins.",
            icon=":material/lock:")
    st.stop()
if not has_table("fct_conversations"):
    empty_state()
    st.stop()

settings = get_settings()
reviewer = current_user()
if not reviewer:
    reviewer = st.text_input("Your reviewer name", key="reviewer_name",
                             help="With no login configured (SI_AUTH_FILE) labels are attributed to the name "
                                  "typed here; with logins, to the signed-in user.")
    if not reviewer:
        st.caption("Type your name to start: each label is attributed to its reviewer.")
        st.stop()
try:
    reviewer = check_reviewer(reviewer)
except ReviewRefused as exc:
    st.error(str(exc))
    st.stop()


def built_labels() -> list[Label]:
    if not has_table("fct_review_labels"):
        return []
    rows = query("select label_kind, conversation_id, turn_index, annotator, label, adjudicated "
                 "from marts.fct_review_labels")
    return [Label(r.label_kind, r.conversation_id, None if pd.isna(r.turn_index) else int(r.turn_index),
                  r.annotator, r.label, bool(r.adjudicated)) for r in rows.itertuples()]


def choices(kind: str) -> list[str]:
    """What a reviewer picks from: the taxonomy, the readings and earlier labels (defaults without any)."""
    found: set[str] = set()
    if has_table("fct_review_labels"):
        found |= set(query("select distinct label from marts.fct_review_labels where label_kind = ?", (kind,))["label"])
    if kind == "intent":
        for table, column in (("dim_intent_taxonomy", "intent"), ("dim_intent_prototypes", "intent")):
            if has_table(table):
                found |= set(query(f"select distinct {column} as v from marts.{table}")["v"])
    elif has_table("fct_turn_readings"):
        column = "emotion" if kind == "emotion" else "act"
        found |= set(query(f"select distinct {column} as v from marts.fct_turn_readings where {column} is not null")["v"])
    if not found and kind != "intent":
        found = set(DEFAULT_EMOTIONS if kind == "emotion" else DEFAULT_ACTS)
    return sorted(str(v) for v in found if v is not None and str(v))


problems: list[str] = []
labels = merge(built_labels(), written_labels(settings.landing_dir, problems))
if problems:
    st.warning("Some lines of the review files are not review labels and were skipped: " + "; ".join(problems[:5]))
label_tab, adjudicate_tab = st.tabs(["Label", "Adjudicate"])

with label_tab:
    # One scale at a time: the intent model's confidence once a model has scored contacts (a contact it has
    # not scored yet waits), else the zero-shot margin; a probability and a cosine gap do not compare.
    candidates = query("""
        select
            c.conversation_id,
            case when max(i.confidence) over () is not null then i.confidence else i.zero_shot_margin end
                as uncertainty
        from marts.fct_conversations as c
        left join marts.fct_conversation_intents as i using (conversation_id)
        where exists (select 1 from marts.fct_turns as t
                      where t.conversation_id = c.conversation_id and t.speaker = 'customer')""") \
        if has_table("fct_conversation_intents") else query(
        "select conversation_id, null as uncertainty from marts.fct_conversations")
    skipped = st.session_state.setdefault("review_skipped", [])
    waiting = queue([(r.conversation_id, None if pd.isna(r.uncertainty) else r.uncertainty)
                     for r in candidates.itertuples() if r.conversation_id not in skipped], labels, reviewer,
                    size=len(candidates))
    mine = sum(1 for label in labels if label.annotator == reviewer and label.kind == "intent" and not label.adjudicated)
    st.caption(f"{len(waiting):,} conversation(s) waiting for you · {mine:,} labelled by you so far · "
               "labels reach the models at the next build")
    if not waiting:
        st.success("Nothing left to label: every conversation has two reviewers or yours.")
    else:
        conversation_id = waiting[0]
        turns = query("select turn_index, speaker, text from marts.fct_turns where conversation_id = ? "
                      "order by turn_index", (conversation_id,))
        st.subheader(f"Conversation {esc(conversation_id)}")
        render_transcript(turns)
        with st.form(f"label_{conversation_id}"):  # a refused save keeps what was chosen
            options = [*choices("intent"), NEW_INTENT]
            picked = st.selectbox("Intent", options, index=None, placeholder="Choose the customer's intent")
            new_name = st.text_input("New intent name (only with “+ a new intent…”)")
            turn_choices = {}
            emotions, acts = [NOT_LABELLED, *choices("emotion")], [NOT_LABELLED, *choices("act")]
            for row in turns.itertuples():
                if row.speaker == "customer":
                    turn_choices[(int(row.turn_index), "emotion")] = st.selectbox(
                        f"Turn {int(row.turn_index)} · customer emotion", emotions, key=f"e_{conversation_id}_{row.turn_index}")
                elif row.speaker == "agent":
                    turn_choices[(int(row.turn_index), "act")] = st.selectbox(
                        f"Turn {int(row.turn_index)} · agent act", acts, key=f"a_{conversation_id}_{row.turn_index}")
            submitted = st.form_submit_button("Save my labels", type="primary")
        if st.button("Skip this conversation"):
            skipped.append(conversation_id)
            st.rerun()
        if submitted:
            intent = new_name.strip() if picked == NEW_INTENT else (picked or "")
            new = [Label(kind, conversation_id, turn, reviewer, value) for (turn, kind), value in turn_choices.items()
                   if value != NOT_LABELLED]
            try:
                if not intent:
                    raise ReviewRefused("choose an intent (or name a new one)")
                new.insert(0, Label("intent", conversation_id, None, reviewer, intent))
                record_labels(settings.landing_dir, reviewer, new, labels)
            except ReviewRefused as exc:
                st.error(str(exc))
            else:
                st.session_state["review_saved"] = f"Saved {len(new)} label(s) for {conversation_id}."
                st.rerun()
    if st.session_state.get("review_saved"):
        st.success(st.session_state.pop("review_saved"))

with adjudicate_tab:
    open_records = disagreements(labels, adjudicator=reviewer)
    st.caption(f"{len(open_records)} record(s) two reviewers labelled differently, not labelled by you. The decision "
               "stands over both votes; agreement statistics leave it out.")
    for (kind, conversation_id, turn), voters in open_records[:20]:
        where = f"{conversation_id}" + ("" if turn is None else f" · turn {turn}")
        with st.expander(f"{kind}: {where} — " + " vs ".join(sorted(set(voters.values())))):
            shown = query("select turn_index, speaker, text from marts.fct_turns where conversation_id = ? "
                          + ("" if turn is None else "and turn_index = ? ") + "order by turn_index",
                          (conversation_id,) if turn is None else (conversation_id, turn))
            render_transcript(shown)
            st.caption("; ".join(f"{esc(name)}: {esc(value)}" for name, value in sorted(voters.items())))
            options = sorted(set(voters.values()) | set(choices(kind)))
            decision = st.selectbox("Decision", options, index=None, key=f"adj_{kind}_{conversation_id}_{turn}")
            if st.button("Decide", key=f"adj_btn_{kind}_{conversation_id}_{turn}") and decision:
                try:
                    record_labels(settings.landing_dir, reviewer,
                                  [Label(kind, conversation_id, turn, reviewer, decision, adjudicated=True)], labels)
                except ReviewRefused as exc:
                    st.error(str(exc))
                else:
                    st.rerun()
