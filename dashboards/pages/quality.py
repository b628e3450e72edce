"""Quality: which QA dimensions fail, for which teams and agents, and in which conversations?

Reads the automatic QA checks (marts.fct_qa_checks: one row per conversation and dimension, with
the turn that is the evidence) and the scorecards (marts.fct_qa_scorecards). A pass rate counts
only the conversations where a dimension applies (a hold etiquette check needs a hold), so a
blank cell means "never applied", not "always failed".
"""

from __future__ import annotations

import html

import plotly.express as px
import streamlit as st

from dashboards.data import query
from dashboards.transcript import TurnNote, render_transcript
from dashboards.access import can_see_text
from dashboards.widgets import contacts_link, download_button, readings_page

GROUPS = {"Team": "k.team_id", "Agent": "k.agent_id"}  # fixed column names, never user text

filters, where, params = readings_page("Quality", "QA scorecards", "fct_qa_checks", "fct_qa_scorecards")

dimensions = query(f"""
    select
        k.dimension,
        any_value(k.method) as method,
        count(*) as conversations,
        count(*) filter (where not k.measured) as unmeasured,
        count(*) filter (where k.applicable) as applicable,
        count(*) filter (where k.failed) as failed,
        round(avg(k.passed::int) filter (where k.applicable), 3) as pass_rate
    from marts.fct_qa_checks as k
    inner join marts.fct_conversations as c on c.conversation_id = k.conversation_id
    where {where}
    group by k.dimension
    order by pass_rate nulls last, k.dimension""", tuple(params))
if dimensions.empty:
    scored = query("select count(*) as n from marts.fct_qa_checks")
    if scored.empty or int(scored.iloc[0]["n"]) == 0:
        st.info("No conversation has been scored yet: the quality checks read each agent turn through the "
                "quality-act model, and none has been trained on this warehouse. It trains once reviewers have "
                "agreed on enough labelled agent turns (the Models page shows what each model has).",
                icon=":material/hourglass_empty:")
    else:
        st.info("No scored conversation in this period for the chosen channels and queues.")
    st.stop()

cards = query(f"""
    select
        count(*) as conversations,
        avg(s.quality_score) as score,
        avg(s.has_forbidden_language::int) as forbidden,
        avg((len(s.failed_dimensions) = 0)::int) as clean
    from marts.fct_qa_scorecards as s
    inner join marts.fct_conversations as c on c.conversation_id = s.conversation_id
    where {where}""", tuple(params)).iloc[0]
worst = dimensions.dropna(subset=["pass_rate"]).head(1)
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Conversations scored", f"{int(cards['conversations']):,}")
c2.metric("QA dimensions", f"{len(dimensions)}")
c3.metric("Average quality score", f"{cards['score']:.1f}" if cards["score"] == cards["score"] else "–",
          help="100 x applicable checks passed / applicable checks, averaged over conversations")
c4.metric("Every check passed", f"{cards['clean']:.1%}" if cards["clean"] == cards["clean"] else "–")
c5.metric("Weakest dimension", worst.iloc[0]["dimension"] if not worst.empty else "–",
          f"{worst.iloc[0]['pass_rate']:.0%} pass" if not worst.empty else None, delta_color="off", delta_arrow="off")

unmeasured = dimensions[dimensions["unmeasured"] > 0]
if not unmeasured.empty:
    share = float(unmeasured["unmeasured"].max()) / max(int(cards["conversations"]), 1)
    st.warning(f"{len(unmeasured)} of {len(dimensions)} dimensions are not measured on {share:.0%} of these "
               "conversations: they read what each agent turn does (greeting, empathy, solution, closing...) and no "
               "quality-act model has been trained on reviewed agent turns yet, so they are neither passed nor "
               "failed and the score covers the other dimensions only. Not measured: "
               + ", ".join(unmeasured["dimension"]) + ". Label agent turns on the Review page to train it.",
               icon=":material/rule:")

st.subheader("Pass rate per dimension")
fig = px.bar(dimensions.dropna(subset=["pass_rate"]), x="pass_rate", y="dimension", orientation="h",
             color="pass_rate", color_continuous_scale="RdYlGn", range_color=(0.5, 1.0),
             hover_data={"applicable": True, "failed": True, "method": True}, labels={"dimension": ""})
fig.update_xaxes(tickformat=".0%", range=(0, 1))
st.plotly_chart(fig, width="stretch")
never = dimensions[(dimensions["applicable"] == 0) & (dimensions["unmeasured"] < dimensions["conversations"])
                   ]["dimension"].tolist()
if never:
    st.caption("Never applicable in this selection (no evidence to judge): " + ", ".join(never))
st.dataframe(dimensions, hide_index=True, width="stretch",
             column_config={"pass_rate": st.column_config.ProgressColumn("pass rate", min_value=0, max_value=1,
                                                                         format="percent")})
download_button(dimensions, "qa_dimensions.csv", "Download pass rates per dimension (CSV)")
failing = dimensions[dimensions["failed"] > 0]["dimension"].tolist()
if failing:
    pick, link = st.columns([2, 3])
    chosen_dimension = pick.selectbox("Contacts that failed", failing, key="quality_failed_dimension",
                                      label_visibility="collapsed")
    with link:
        contacts_link(f"The contacts that failed {chosen_dimension}", failed=chosen_dimension)

st.subheader("Scorecards by team and agent")
by = st.radio("Group by", list(GROUPS), horizontal=True, key="quality_group_by")
grid = query(f"""
    select
        {GROUPS[by]} as grp,
        k.dimension,
        count(*) filter (where k.applicable) as applicable,
        avg(k.passed::int) filter (where k.applicable) as pass_rate
    from marts.fct_qa_checks as k
    inner join marts.fct_conversations as c on c.conversation_id = k.conversation_id
    where {where} and {GROUPS[by]} is not null
    group by all""", tuple(params))
if grid.empty:
    st.info(f"No {by.lower()} has scored conversations in this selection.")
else:
    order = dimensions["dimension"].tolist()
    heat = grid.pivot(index="grp", columns="dimension", values="pass_rate").reindex(columns=order)
    counts = grid.pivot(index="grp", columns="dimension", values="applicable").reindex(columns=order)
    heat = heat.loc[heat.mean(axis=1, skipna=True).sort_values(na_position="last").index]
    counts = counts.reindex(index=heat.index)
    heat.index = [html.escape(str(g), quote=False) for g in heat.index]  # team / agent ids from landing files
    fig = px.imshow(heat, color_continuous_scale="RdYlGn", zmin=0.5, zmax=1.0, aspect="auto",
                    labels={"x": "", "y": "", "color": "pass rate"}, text_auto=".0%")
    fig.update_traces(customdata=counts.fillna(0).to_numpy(),
                      hovertemplate="%{y} · %{x}<br>pass rate %{z:.1%}<br>%{customdata} applicable<extra></extra>")
    fig.update_layout(height=max(320, 28 * len(heat) + 140))
    st.plotly_chart(fig, width="stretch")
    st.caption(f"Sorted worst first; a blank cell: the dimension never applied to this {by.lower()}'s conversations.")
    table = heat.reset_index().rename(columns={"grp": by.lower()})
    download_button(table, f"qa_pass_rate_by_{by.lower()}.csv", f"Download the pass rates by {by.lower()} (CSV)")

st.subheader("Worst conversations")
worst_conversations = query(f"""
    select
        s.conversation_id,
        s.started_date,
        s.channel,
        s.team_id,
        s.agent_id,
        round(s.quality_score, 1) as quality_score,
        s.checks_applicable,
        s.checks_passed,
        array_to_string(s.failed_dimensions, ', ') as failed_dimensions,
        s.has_forbidden_language
    from marts.fct_qa_scorecards as s
    inner join marts.fct_conversations as c on c.conversation_id = s.conversation_id
    where {where} and len(s.failed_dimensions) > 0
    order by s.has_forbidden_language desc, s.quality_score, len(s.failed_dimensions) desc, s.conversation_id
    limit 50""", tuple(params))
if worst_conversations.empty:
    st.success("Every scored conversation in this selection passed every applicable check.")
    st.stop()
st.dataframe(worst_conversations, hide_index=True, width="stretch",
             column_config={"quality_score": st.column_config.ProgressColumn("quality score", min_value=0,
                                                                             max_value=100, format="%.0f")})
download_button(worst_conversations, "qa_worst_conversations.csv", "Download the worst conversations (CSV)")

labels = {r.conversation_id: f"{r.conversation_id} · score {r.quality_score:.0f} · fails {r.failed_dimensions}"
          for r in worst_conversations.itertuples(index=False)}
picked = st.selectbox("Open a conversation", list(labels), format_func=lambda i: labels.get(i, i),
                      key="quality_conversation")
checks = query("""
    select dimension, applicable, passed, failed, evidence_turn_index, evidence_speaker, evidence_text, method
    from marts.fct_qa_checks
    where conversation_id = ?
    order by failed desc, applicable desc, dimension""", (picked,))
if not can_see_text():  # the evidence turn's number stays; its words are for supervisors
    checks = checks.drop(columns=["evidence_text"])


def _highlight_failed(row):
    colour = "background-color: rgba(214, 39, 40, 0.18)" if row["failed"] else ""
    return [colour] * len(row)


st.dataframe(checks.style.apply(_highlight_failed, axis=1), hide_index=True, width="stretch")
failed = checks[checks["failed"].fillna(False).astype(bool)]
notes: dict[int, list[TurnNote]] = {}
for check in failed.itertuples(index=False):
    if check.evidence_turn_index == check.evidence_turn_index and check.evidence_turn_index is not None:
        notes.setdefault(int(check.evidence_turn_index), []).append(
            TurnNote(f"Failed check: {check.dimension} ({check.method})", "error"))
    else:
        st.error(f"Failed check: {check.dimension} — no single turn is the evidence ({check.method}).")
transcript = query("""
    select t.turn_index, t.speaker, t.text, coalesce(r.act, r.emotion) as reading
    from marts.fct_turns as t
    left join marts.fct_turn_readings as r on r.conversation_id = t.conversation_id and r.turn_index = t.turn_index
    where t.conversation_id = ?
    order by t.turn_index""", (picked,))
with st.expander("The conversation, failed checks pinned to their evidence turn", expanded=True):
    render_transcript(transcript, notes, reading_col="reading")
download_button(checks, f"qa_checks_{picked}.csv", "Download this conversation's checks (CSV)")
