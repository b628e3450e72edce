"""A masked conversation shown turn by turn, with notes pinned to the turns that matter.

Why one helper: the emotion page (the turn that raised an alert) and the quality page (the turn a
failed check points at) both need to show a conversation with a few turns called out; the same
rendering keeps them readable in the same way. Text comes from the marts, already masked; it is
escaped so a customer's ``*`` or ``#`` is shown, not interpreted as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboards.access import text_allowed_or_notice
from dashboards.widgets import escape_markdown

AVATARS = {"customer": ":material/person:", "agent": ":material/support_agent:"}


@dataclass(frozen=True)
class TurnNote:
    """A note pinned under one turn; ``kind`` is error, warning, success or info (the callout's colour)."""

    text: str
    kind: str = "warning"


def render_transcript(turns: pd.DataFrame, notes: dict[int, list[TurnNote]] | None = None,
                      reading_col: str | None = None) -> None:
    """One chat bubble per turn (turn_index, speaker, text[, reading_col]); notes under their turns.

    An analyst (dashboards/access.py) gets a notice instead: turn text is for supervisors only.
    """
    if not text_allowed_or_notice():
        return
    notes = notes or {}
    callouts = {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}
    for row in turns.itertuples(index=False):
        speaker = str(getattr(row, "speaker", "") or "system")
        index = int(row.turn_index)
        with st.chat_message(speaker, avatar=AVATARS.get(speaker, ":material/smart_toy:")):
            reading = getattr(row, reading_col, None) if reading_col else None
            label = f"turn {index} · {speaker}"
            if reading is not None and reading == reading and str(reading):
                label += f" · {reading}"
            st.caption(escape_markdown(label))
            st.markdown(escape_markdown(row.text) or "_(empty)_")
            for note in notes.get(index, []):
                callouts.get(note.kind, st.info)(escape_markdown(note.text))
