"""Models: how accurate is each model version, where does it go wrong, is its input drifting,
and is the new version better than the old one?

What the marts publish, and so what this page can show:
- marts.fct_model_comparison: every pair of trained versions of a task (intent, emotion,
  quality acts) scored on the same records, with accuracy on reviewed labels and fixes/breaks.
  It has rows only once a task has been retrained (two versions).
- marts.fct_conversation_intents: per conversation, the current intent model's prediction and the
  two embedding readers (zero-shot, few-shot), beside the reviewed intent where two annotators
  agreed. These three readers of the same records are compared here like versions, with the same
  yardstick; the reviewed labels include the records the model and the few-shot prototypes learned
  from, so compare readers with each other, not with a held-out figure.
- marts.dim_intent_prototypes: the held-out accuracy of the embedding readers.
- marts.fct_turn_readings: the emotion and act versions in use and what they read per day.
- marts.dim_model_candidates: for each current version, every candidate the trainer fitted with its
  cross-validated score on the training labels, the one it kept and why.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import has_table, query
from dashboards.widgets import (
    contacts_link, download_button, escape_markdown, explain_no_rows, number_formats, page_filters, plain, require_marts,
)
from service_insight.settings import get_settings

# Reader label -> column of marts.fct_conversation_intents (fixed names, never user text).
EMBEDDING_READERS = {"few-shot embeddings": "few_shot_intent", "zero-shot embeddings": "zero_shot_intent"}
TOP_INTENTS = 8


def intent_readers(model_versions: list[str]) -> dict[str, str]:
    """Every intent reader the marts hold per record: the model version(s), then the embedding paths."""
    readers = {version: "predicted_intent" for version in model_versions}
    readers.update(EMBEDDING_READERS)
    return readers


def population_stability(before: pd.Series, after: pd.Series) -> float:
    """PSI of two label distributions (counts per label); 0.1 is a moderate and 0.25 a major shift."""
    labels = before.index.union(after.index)
    p = before.reindex(labels, fill_value=0).to_numpy(dtype=float)
    q = after.reindex(labels, fill_value=0).to_numpy(dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p = (p + 0.5) / (p.sum() + 0.5 * len(labels))  # smoothed: a label absent from one side stays finite
    q = (q + 0.5) / (q.sum() + 0.5 * len(labels))
    return float(np.sum((q - p) * np.log(q / p)))


filters = page_filters("Models")
require_marts("This snapshot has no model readings yet (marts.fct_conversation_intents). Run a build with the "
              "enrichment assets (`make materialize`).", "fct_conversation_intents")

where, params = filters.where("i.started_date", "c.channel", "c.final_queue_id")
FROM_INTENTS = ("from marts.fct_conversation_intents as i "
                "inner join marts.fct_conversations as c on c.conversation_id = i.conversation_id")
model_versions = query(f"select distinct i.model_version {FROM_INTENTS} where i.model_version is not null "
                       "order by 1")["model_version"].tolist()
readers = intent_readers(model_versions)
comparison = query("select * from marts.fct_model_comparison order by task, version_a, version_b") \
    if has_table("fct_model_comparison") else pd.DataFrame()

# --- Accuracy per version -------------------------------------------------------------------------
st.subheader("Accuracy per model version")
accuracy_sql = ", ".join(
    f"count(i.{col}) filter (where i.reviewed_intent is not null) as \"n_{n}\", "
    f"avg((i.{col} = i.reviewed_intent)::int) filter (where i.reviewed_intent is not null) as \"acc_{n}\""
    for n, col in enumerate(readers.values()))
live = query(f"select count(*) as records, {accuracy_sql} {FROM_INTENTS} where {where}", tuple(params))
held_out = query("select method, max(accuracy) as accuracy from marts.dim_intent_prototypes group by 1") \
    if has_table("dim_intent_prototypes") else pd.DataFrame(columns=["method", "accuracy"])
held = dict(zip(held_out["method"] + " embeddings", held_out["accuracy"]))
rows = []
if not live.empty and int(live.iloc[0]["records"]) > 0:
    for n, (label, _) in enumerate(readers.items()):
        rows.append({"task": "intent", "version": label, "reviewed_records": int(live.iloc[0][f"n_{n}"]),
                     "accuracy_on_reviewed": live.iloc[0][f"acc_{n}"], "held_out_accuracy": held.get(label),
                     "source": "fct_conversation_intents (this period)", "in_use": label in model_versions})
if not comparison.empty:
    sides = pd.concat([
        comparison.rename(columns={"version_a": "version", "accuracy_a": "accuracy_on_reviewed"})
        .assign(in_use=False)[["task", "version", "reviewed_records", "accuracy_on_reviewed", "in_use"]],
        comparison.rename(columns={"version_b": "version", "accuracy_b": "accuracy_on_reviewed"})
        .assign(in_use=comparison["b_is_current"])[["task", "version", "reviewed_records", "accuracy_on_reviewed",
                                                    "in_use"]],
    ])
    sides = sides.sort_values("reviewed_records", ascending=False).drop_duplicates(["task", "version"])
    known = {(r["task"], r["version"]) for r in rows}
    for r in sides.itertuples(index=False):
        if (r.task, r.version) not in known:
            rows.append({"task": r.task, "version": r.version, "reviewed_records": int(r.reviewed_records),
                         "accuracy_on_reviewed": r.accuracy_on_reviewed, "held_out_accuracy": None,
                         "source": "fct_model_comparison (all records)", "in_use": bool(r.in_use)})
if has_table("fct_turn_readings"):
    in_use = query("""
        select 'emotion' as task, emotion_model_version as version, count(*) as records
        from marts.fct_turn_readings where emotion_model_version is not null group by all
        union all
        select 'quality_act', act_model_version, count(*)
        from marts.fct_turn_readings where act_model_version is not null group by all""")
    known = {(r["task"], r["version"]) for r in rows}
    for r in in_use.itertuples(index=False):
        if (r.task, r.version) not in known:
            rows.append({"task": r.task, "version": r.version, "reviewed_records": 0, "accuracy_on_reviewed": None,
                         "held_out_accuracy": None, "source": "fct_turn_readings (in use)", "in_use": True})
versions = pd.DataFrame(rows, columns=["task", "version", "in_use", "reviewed_records", "accuracy_on_reviewed",
                                       "held_out_accuracy", "source"])
scored = versions.dropna(subset=["accuracy_on_reviewed"])
if not scored.empty:
    fig = px.bar(scored, x="accuracy_on_reviewed", y="version", color="task", orientation="h",
                 text=scored["accuracy_on_reviewed"].map("{:.1%}".format),
                 hover_data={"reviewed_records": True, "source": True}, labels={"version": ""})
    fig.update_xaxes(tickformat=".0%", range=(0, 1), title="accuracy on reviewed records")
    st.plotly_chart(fig, width="stretch")
st.dataframe(versions, hide_index=True, width="stretch",
             column_config=number_formats("percent", "accuracy_on_reviewed", "held_out_accuracy"))
if versions[versions["task"] != "intent"]["accuracy_on_reviewed"].isna().any():
    st.caption("Emotion and quality-act accuracy needs the reviewed turn labels, which the marts publish only "
               "through fct_model_comparison: it appears here once a task has a second version to compare.")
download_button(versions, "model_versions.csv", "Download accuracy per version (CSV)")

# --- Candidates ----------------------------------------------------------------------------------
st.subheader("How each current model was chosen")
if not has_table("dim_model_candidates"):
    st.info("This snapshot predates candidate selection (marts.dim_model_candidates): the next build records "
            "every candidate of each retrained model.", icon=":material/hourglass_empty:")
else:
    candidates = query("""select task, model_version, candidate, is_chosen, cv_macro_f1, cv_accuracy, cv_ece,
                                 folds_scored, train_seconds, detail, selection_reason, train_examples,
                                 eval_examples, eval_accuracy, eval_macro_f1, eval_ece
                          from marts.dim_model_candidates where is_current order by task, candidate""")
    if candidates.empty:
        st.info("No current model was trained with candidate selection yet: the intent, emotion and quality-act "
                f"models are trained once reviewers have agreed on at least {get_settings().min_training_labels} "
                "labels of a task (SI_MIN_TRAINING_LABELS).",
                icon=":material/hourglass_empty:")
    for task, group in candidates.groupby("task", sort=True):
        first = group.iloc[0]
        chosen = group.loc[group["is_chosen"], "candidate"]
        held = (f"held-out: accuracy {first['eval_accuracy']:.1%}, macro-F1 {first['eval_macro_f1']:.3f}, "
                f"calibration error {first['eval_ece']:.3f} on {int(first['eval_examples']):,} labels"
                if pd.notna(first["eval_accuracy"]) else "no held-out labels for this version")
        st.markdown(f"**{escape_markdown(task)}**: kept **{escape_markdown(chosen.iloc[0] if len(chosen) else '?')}** "
                    f"from {int(first['train_examples'] or 0):,} training labels; "
                    f"{escape_markdown(first['selection_reason'] or '')}. {escape_markdown(held)}.")
        shown = group[["candidate", "is_chosen", "cv_macro_f1", "cv_accuracy", "cv_ece", "folds_scored",
                       "train_seconds", "detail"]].rename(columns={"is_chosen": "kept"})
        st.dataframe(shown, hide_index=True, width="stretch",
                     column_config={"cv_accuracy": st.column_config.NumberColumn(format="percent"),
                                    "cv_macro_f1": st.column_config.NumberColumn(format="%.3f"),
                                    "cv_ece": st.column_config.NumberColumn(format="%.3f"),
                                    "train_seconds": st.column_config.NumberColumn(format="%.0f s")})
    if not candidates.empty:
        st.caption("Cross-validated on the training labels (folds the model did not learn from); a skipped "
                   "candidate says why. A confidence of 0.8 from a calibrated model is right about 80% of the time: "
                   "the calibration error is the average gap.")

# --- Confusion matrix -----------------------------------------------------------------------------
st.subheader("Confusion matrix on reviewed intents")
reader = st.selectbox("Reader", list(readers), key="models_confusion_reader")
column = readers[reader]
pairs = query(f"""
    select i.reviewed_intent as reviewed, i.{column} as predicted, count(*) as records
    {FROM_INTENTS}
    where {where} and i.reviewed_intent is not null and i.{column} is not null
    group by all""", tuple(params))
if pairs.empty:
    explain_no_rows(int(query("select count(*) as n from marts.fct_conversation_intents "
                              "where reviewed_intent is not null").iloc[0]["n"]) == 0,
                    "No conversation has a reviewed intent yet, so no reading can be compared with one: label "
                    "contacts on the Review page (two reviewers each) and the next build fills this matrix.",
                    "No reviewed conversation in this selection: widen the period to see the confusion matrix.")
else:
    labels = sorted(set(pairs["reviewed"]) | set(pairs["predicted"]))
    matrix = pairs.pivot(index="reviewed", columns="predicted", values="records") \
        .reindex(index=labels, columns=labels).fillna(0)
    normalise = st.toggle("Share of each reviewed intent (rows sum to 100%)", value=True, key="models_normalise")
    shown = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0) if normalise else matrix
    # Intents are free text from reviewers: axis labels, never markup.
    shown.index = [html.escape(str(i), quote=False) for i in shown.index]
    shown.columns = [html.escape(str(c), quote=False) for c in shown.columns]
    fig = px.imshow(shown, color_continuous_scale="Blues", aspect="auto",
                    labels={"x": "predicted", "y": "reviewed", "color": "share" if normalise else "records"})
    fig.update_layout(height=max(420, 18 * len(labels) + 160))
    st.plotly_chart(fig, width="stretch")
    correct = np.diag(matrix.to_numpy())
    per_intent = pd.DataFrame({
        "intent": labels,
        "reviewed": matrix.sum(axis=1).to_numpy().astype(int),
        "predicted": matrix.sum(axis=0).to_numpy().astype(int),
        "correct": correct.astype(int),
    })
    per_intent["recall"] = (per_intent["correct"] / per_intent["reviewed"].replace(0, np.nan)).round(3)
    per_intent["precision"] = (per_intent["correct"] / per_intent["predicted"].replace(0, np.nan)).round(3)
    confused = pairs[pairs["reviewed"] != pairs["predicted"]].sort_values("records", ascending=False).head(10)
    left, right = st.columns([3, 2])
    left.dataframe(per_intent.sort_values(["recall", "reviewed"]), hide_index=True, width="stretch")
    right.caption("Most frequent confusions")
    right.dataframe(confused, hide_index=True, width="stretch")
    download_button(matrix.reset_index(), f"confusion_{column}.csv", "Download the confusion matrix (CSV)")

# --- Drift ----------------------------------------------------------------------------------------
st.subheader("Drift over time")
daily_intents = query(f"""
    select i.started_date as day, i.predicted_intent as intent, count(*) as records
    {FROM_INTENTS}
    where {where} and i.predicted_intent is not null
    group by all order by day""", tuple(params))
daily_quality = query(f"""
    select
        i.started_date as day,
        count(*) as records,
        avg(i.confidence) as mean_confidence,
        avg(i.needs_escalation::int) as escalation_share,
        count(i.reviewed_intent) as reviewed,
        avg(i.matches_review::int) as agreement_with_review
    {FROM_INTENTS}
    where {where} and i.predicted_intent is not null
    group by all order by day""", tuple(params))
if daily_intents.empty:
    explain_no_rows(not model_versions,
                    "No intent model has scored any contact yet, so there is no prediction to follow over time: the "
                    "intents of record come from the taxonomy or discovered topics until one is trained on reviewed "
                    "labels.",
                    "No predictions in this selection.")
else:
    totals = daily_intents.groupby("intent")["records"].sum().sort_values(ascending=False)
    top = set(totals.head(TOP_INTENTS).index)
    daily_intents["intent"] = daily_intents["intent"].where(daily_intents["intent"].isin(top), "other")
    mix = daily_intents.groupby(["day", "intent"], as_index=False)["records"].sum()
    days = sorted(daily_intents["day"].unique())
    window = max(1, min(7, len(days) // 2))
    first = daily_intents[daily_intents["day"].isin(days[:window])].groupby("intent")["records"].sum()
    last = daily_intents[daily_intents["day"].isin(days[-window:])].groupby("intent")["records"].sum()
    psi = population_stability(first, last) if len(days) >= 2 else float("nan")
    quality_now = daily_quality[daily_quality["day"].isin(days[-window:])]
    quality_then = daily_quality[daily_quality["day"].isin(days[:window])]

    def _weighted(frame: pd.DataFrame, col: str, weight: str) -> float:
        w = frame[weight].where(frame[col].notna(), 0)
        return float((frame[col].fillna(0) * w).sum() / w.sum()) if w.sum() else float("nan")

    c1, c2, c3 = st.columns(3)
    c1.metric(f"Intent mix shift (PSI, last {window} vs first {window} days)", "–" if psi != psi else f"{psi:.3f}",
              None if psi != psi else ("stable" if psi < 0.1 else "moderate shift" if psi < 0.25 else "major shift"),
              delta_color="off", delta_arrow="off", help="Population stability index of the predicted-intent mix")
    now_c, then_c = _weighted(quality_now, "mean_confidence", "records"), _weighted(quality_then, "mean_confidence",
                                                                                    "records")
    c2.metric(f"Mean confidence, last {window} days", "–" if now_c != now_c else f"{now_c:.2f}",
              None if now_c != now_c or then_c != then_c else f"{now_c - then_c:+.2f} vs first {window} days")
    now_a, then_a = (_weighted(quality_now, "agreement_with_review", "reviewed"),
                     _weighted(quality_then, "agreement_with_review", "reviewed"))
    c3.metric(f"Agreement with review, last {window} days", "–" if now_a != now_a else f"{now_a:.1%}",
              None if now_a != now_a or then_a != then_a else f"{(now_a - then_a) * 100:+.1f} pp")
    escalating = int(query(f"select count(*) as n {FROM_INTENTS} where {where} and i.needs_escalation",
                           tuple(params))["n"].iloc[0])
    contacts_link(f"The {escalating:,} contacts the intent reading sends to a person", escalate="yes")
    left, right = st.columns(2)
    with left:
        st.caption("Predicted intents per day (share)")
        fig = px.area(plain(mix, "intent"), x="day", y="records", color="intent", groupnorm="fraction", labels={"day": ""})
        fig.update_yaxes(tickformat=".0%", title="")
        st.plotly_chart(fig, width="stretch")
    with right:
        st.caption("Agreement with reviewed labels, confidence and escalations per day")
        long = daily_quality.melt(id_vars=["day", "reviewed"], value_vars=["agreement_with_review", "mean_confidence",
                                                                          "escalation_share"],
                                  var_name="measure", value_name="value")
        fig = px.line(long, x="day", y="value", color="measure", markers=True, hover_data=["reviewed"],
                      labels={"day": ""})
        fig.update_yaxes(tickformat=".0%", range=(0, 1.05), title="")
        st.plotly_chart(fig, width="stretch")
if has_table("fct_turn_readings"):
    emotions = query(f"""
        select r.started_date as day, r.emotion, count(*) as turns
        from marts.fct_turn_readings as r
        inner join marts.fct_conversations as c on c.conversation_id = r.conversation_id
        where r.speaker = 'customer' and r.emotion is not null and {filters.where('r.started_date', 'c.channel',
                                                                                  'c.final_queue_id')[0]}
        group by all order by day""", tuple(params))
    if not emotions.empty:
        st.caption("Emotions read in customer turns per day (share)")
        fig = px.area(plain(emotions, "emotion"), x="day", y="turns", color="emotion", groupnorm="fraction", labels={"day": ""})
        fig.update_yaxes(tickformat=".0%", title="")
        st.plotly_chart(fig, width="stretch")
download_button(daily_quality, "model_drift_daily.csv", "Download the daily model figures (CSV)")

# --- A/B ------------------------------------------------------------------------------------------
st.subheader("A/B: compare two versions")
options: dict[str, list[str]] = {"intent": list(readers)}
if not comparison.empty:
    for task, group in comparison.groupby("task"):
        names = list(dict.fromkeys([*group["version_a"], *group["version_b"]]))
        options[task] = list(dict.fromkeys([*options.get(task, []), *names]))
tasks = [t for t, names in options.items() if len(names) >= 2]
if not tasks:
    st.info("Only one version of each model has been trained so far: the A/B comparison fills in after a retrain.")
    st.stop()
task = st.selectbox("Task", tasks, key="models_ab_task")
names = options[task]
a1, a2 = st.columns(2)
version_a = a1.selectbox("Version A", names, index=0, key="models_ab_a")
version_b = a2.selectbox("Version B", names, index=min(1, len(names) - 1), key="models_ab_b")
if version_a == version_b:
    st.info("Pick two different versions.")
    st.stop()

result: dict | None = None
match = comparison[(comparison["task"] == task) & (comparison["version_a"] == version_a)
                   & (comparison["version_b"] == version_b)] if not comparison.empty else pd.DataFrame()
swapped = comparison[(comparison["task"] == task) & (comparison["version_a"] == version_b)
                     & (comparison["version_b"] == version_a)] if not comparison.empty else pd.DataFrame()
if not match.empty or not swapped.empty:
    row = (match if not match.empty else swapped).iloc[0]
    flip = match.empty
    result = {"common_records": int(row["common_records"]), "agreement": row["agreement"],
              "reviewed_records": int(row["reviewed_records"]),
              "accuracy_a": row["accuracy_b"] if flip else row["accuracy_a"],
              "accuracy_b": row["accuracy_a"] if flip else row["accuracy_b"],
              "b_fixes": int(row["b_breaks"] if flip else row["b_fixes"]),
              "b_breaks": int(row["b_fixes"] if flip else row["b_breaks"]),
              "source": "fct_model_comparison (every record both versions scored)"}
elif task == "intent" and version_a in readers and version_b in readers:
    col_a, col_b = readers[version_a], readers[version_b]
    live_ab = query(f"""
        select
            count(*) as common_records,
            avg((i.{col_a} = i.{col_b})::int) as agreement,
            count(i.reviewed_intent) as reviewed_records,
            avg((i.{col_a} = i.reviewed_intent)::int) filter (where i.reviewed_intent is not null) as accuracy_a,
            avg((i.{col_b} = i.reviewed_intent)::int) filter (where i.reviewed_intent is not null) as accuracy_b,
            count(*) filter (where i.{col_a} <> i.{col_b} and i.{col_b} = i.reviewed_intent) as b_fixes,
            count(*) filter (where i.{col_a} <> i.{col_b} and i.{col_a} = i.reviewed_intent) as b_breaks
        {FROM_INTENTS}
        where {where} and i.{col_a} is not null and i.{col_b} is not null""", tuple(params))
    if not live_ab.empty and int(live_ab.iloc[0]["common_records"]) > 0:
        r = live_ab.iloc[0]
        result = {k: r[k] for k in ("common_records", "agreement", "reviewed_records", "accuracy_a", "accuracy_b",
                                    "b_fixes", "b_breaks")}
        result["source"] = "fct_conversation_intents (this period and filters)"
if result is None:
    st.info("These two versions have not scored common records: no comparison to show.")
    st.stop()


def _pct(value) -> str:
    return "–" if value is None or value != value else f"{value:.1%}"


m = st.columns(6)
m[0].metric("Common records", f"{int(result['common_records']):,}")
m[1].metric("Agreement", _pct(result["agreement"]))
m[2].metric("Accuracy A", _pct(result["accuracy_a"]), help=f"on {int(result['reviewed_records']):,} reviewed records")
delta = None
if result["accuracy_a"] == result["accuracy_a"] and result["accuracy_b"] == result["accuracy_b"] \
        and result["accuracy_a"] is not None and result["accuracy_b"] is not None:
    delta = f"{(result['accuracy_b'] - result['accuracy_a']) * 100:+.1f} pp vs A"
m[3].metric("Accuracy B", _pct(result["accuracy_b"]), delta)
m[4].metric("B fixes", f"{int(result['b_fixes']):,}", help="Reviewed records A got wrong and B gets right")
m[5].metric("B breaks", f"{int(result['b_breaks']):,}", help="Reviewed records A got right and B gets wrong",
            delta_color="inverse")
st.caption(f"Source: {result['source']}. Net effect of switching to B: "
           f"{int(result['b_fixes']) - int(result['b_breaks']):+,} reviewed records.")
summary = pd.DataFrame([{"task": task, "version_a": version_a, "version_b": version_b, **result}])
st.plotly_chart(px.bar(pd.DataFrame({"version": [f"A: {version_a}", f"B: {version_b}"],
                                     "accuracy": [result["accuracy_a"], result["accuracy_b"]]}),
                       x="accuracy", y="version", orientation="h", range_x=(0, 1), text_auto=".1%",
                       labels={"version": ""}), width="stretch")
download_button(summary, "model_ab.csv", "Download the comparison (CSV)")
