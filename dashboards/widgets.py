"""Small pieces every page shares."""

from __future__ import annotations

import pandas as pd
import streamlit as st


def empty_state() -> None:
    st.info(
        "No warehouse snapshot has been published yet. Build one with `make materialize` "
        "(or materialize the assets in the Dagster UI); this page fills in when it finishes.",
        icon=":material/hourglass_empty:",
    )


def format_delta(value, previous, fmt: str) -> str | None:
    """Difference to the previous period in the tile's own unit (None when not comparable)."""
    if previous is None or value is None or previous != previous or value != value:
        return None
    diff = value - previous
    if "%" in fmt:
        return f"{diff * 100:+.1f} pp"
    return fmt.replace("{:", "{:+").format(diff) if "+" not in fmt else fmt.format(diff)


def download_button(df: pd.DataFrame, filename: str, label: str) -> None:
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=filename, mime="text/csv",
                       disabled=df.empty, icon=":material/download:")
