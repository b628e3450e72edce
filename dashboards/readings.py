"""Where the model readings on every page come from: learnt from this company's reviewed labels, or not.

Why on every page (the sidebar): an intent, an emotion or a QA finding reads the same whether a
model trained on hundreds of the company's own reviewed examples produced it or a zero-shot
comparison with the taxonomy file did; an analyst must know which before trusting a chart. The
lines come from marts.dim_training_status (what the last build decided per model, with the labels
it had and needed) and the intent sources of marts.fct_conversation_intents.
"""

from __future__ import annotations

import pandas as pd

# Task -> (what it reads, what it learns from); fixed words, never data.
TASKS = {
    "intent": ("Intents", "reviewed labels"),
    "emotion": ("Emotion", "reviewed turn labels"),
    "quality_act": ("Quality acts", "reviewed turn labels"),
    "translation": ("Translation", "parallel sentence pairs"),
}
INTENT_SOURCES = {
    "review": "agreed by two reviewers",
    "intent model": "intent model trained on reviewed labels",
    "few-shot embeddings": "embeddings with reviewed examples",
    "zero-shot taxonomy": "zero-shot from the taxonomy / knowledge base (no labels used)",
    "discovered topic": "discovered topics (no taxonomy, no labels)",
}

EMOTION_SOURCES = {
    "model": "emotion model trained on reviewed labels",
    "zero-shot": "zero-shot from described examples (no labels used)",
}


def reading_lines(status: pd.DataFrame, intent_sources: pd.DataFrame,
                  emotion_sources: pd.DataFrame | None = None) -> tuple[list[str], int]:
    """(markdown lines, number of models not trained yet) for the panel."""
    lines, untrained = [], 0
    by_task = {row.task: row for row in status.itertuples()} if not status.empty else {}
    for task, (title, unit) in TASKS.items():
        row = by_task.get(task)
        if row is None:
            lines.append(f"**{title}**: no build has decided on this model yet.")
            untrained += 1
            continue
        if row.has_model:
            have = f" on {int(row.labels):,} {unit}" if pd.notna(row.labels) else ""
            lines.append(f"**{title}**: model learnt{have} ({row.status}).")
        else:
            untrained += 1
            if pd.notna(row.labels_needed):
                lines.append(f"**{title}**: no model trained yet: {int(row.labels_needed):,} {unit} needed, "
                             f"{int(row.labels or 0):,} present.")
            else:
                lines.append(f"**{title}**: no model trained yet ({row.reason or row.status}).")
        if task == "intent" and not intent_sources.empty:
            total = int(intent_sources["contacts"].sum())
            parts = [f"{int(n):,} {INTENT_SOURCES.get(src, src)}" for src, n in
                     zip(intent_sources["intent_source"], intent_sources["contacts"])]
            lines.append(f"&nbsp;&nbsp;{total:,} contacts with an intent: " + "; ".join(parts) + ".")
        if task == "emotion" and emotion_sources is not None and not emotion_sources.empty:
            total = int(emotion_sources["turns"].sum())
            parts = [f"{int(n):,} {EMOTION_SOURCES.get(src, src)}" for src, n in
                     zip(emotion_sources["source"], emotion_sources["turns"])]
            lines.append(f"&nbsp;&nbsp;{total:,} customer turns with an emotion: " + "; ".join(parts) + ".")
    return lines, untrained


def render_reading_sources() -> None:
    """The sidebar panel; absent tables (an older snapshot) simply leave it out."""
    import streamlit as st

    from dashboards.data import has_table, query

    if not has_table("dim_training_status"):
        return
    status = query("select task, status, reason, labels, labels_needed, has_model from marts.dim_training_status")
    sources = query("select intent_source, count(*) as contacts from marts.fct_conversation_intents "
                    "group by 1 order by 2 desc") if has_table("fct_conversation_intents") else pd.DataFrame()
    emotions = query("""select case when emotion_model_version like 'zero-shot:%' then 'zero-shot' else 'model' end
                               as source, count(*) as turns
                        from marts.fct_turn_readings where speaker = 'customer' and emotion is not null
                        group by 1 order by 2 desc""") if has_table("fct_turn_readings") else pd.DataFrame()
    lines, untrained = reading_lines(status, sources, emotions)
    label = ("Readings: " + (f"{untrained} model(s) not trained yet" if untrained else "all models learnt from "
                                                                                         "your labels"))
    with st.sidebar.expander(label, icon=":material/model_training:"):
        for line in lines:
            st.markdown(line)
