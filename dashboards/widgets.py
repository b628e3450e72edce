"""Small pieces every page shares."""

from __future__ import annotations

import html
import re

import pandas as pd
import streamlit as st

# Every character Markdown (and Streamlit's directives such as :red[...] or :material/x:) may treat
# as syntax, plus '=' (a line of them under text makes a heading).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def escape_markdown(text: object) -> str:
    """Data shown as written in any call that renders Markdown (markdown, caption, alerts, labels).

    Why: names, titles and messages come from landing files and customers. Unescaped, a title like
    ``![x](https://tracker/p.png)`` would make every analyst's browser fetch that image, and a link
    would look like part of the product. Use it for every data value put into Markdown text.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return _MARKDOWN.sub(r"\\\1", str(text))


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
    """A CSV download of ``df``; each download is recorded in the audit log (who, which file, how many rows)."""
    from dashboards import audit
    from dashboards.access import current_user

    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=filename, mime="text/csv",
                       disabled=df.empty, icon=":material/download:", on_click=audit.record,
                       args=("export", current_user()), kwargs={"file": filename, "rows": len(df)})


def plain(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy whose text columns are safe as chart labels.

    Plotly reads a little HTML in axis, legend and hover labels (``<a href>``, ``<b>``, ``<span style>``);
    a queue or product name from a landing file must show as written, not become a link.
    """
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: v if v is None or v != v else html.escape(str(v), quote=False))
    return out
