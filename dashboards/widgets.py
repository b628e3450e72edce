"""Small pieces every page shares."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from dashboards.data import Filters, current_filters, has_columns, has_table, query, snapshot
from warehouse.snapshot import SnapshotRef

T = TypeVar("T")

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


def _page_start(title: str, read: Callable[[], T | None]) -> T:
    """Every page opens the same way: its title, then what it reads, or the empty state (and stop) before a build."""
    st.title(title)
    found = read()
    if found is None:
        empty_state()
        st.stop()
    return found


def page_filters(title: str) -> Filters:
    """A filtered page's start: its title, then the sidebar's global filters."""
    return _page_start(title, current_filters)


def page_snapshot(title: str) -> SnapshotRef:
    """A page that ignores the global filters: its title, then the published snapshot."""
    return _page_start(title, snapshot)


def readings_page(title: str, readings: str, *marts: str) -> tuple[Filters, str, list]:
    """A page over the models' readings: its start, a stop until a build has made ``marts``, and the filter
    clause on the conversation columns (aliased ``c``: started_date, channel, final_queue_id)."""
    filters = page_filters(title)
    require_marts(f"This snapshot has no {readings} yet (marts.{' / '.join(marts)}). Run a build with the enrichment "
                  "assets (`make materialize`).", *marts)
    where, params = filters.where("c.started_date", "c.channel", "c.final_queue_id")
    return filters, where, params


def require_marts(message: str, *tables: str, columns: dict[str, tuple[str, ...]] | None = None) -> None:
    """Stop the page with ``message`` while the snapshot lacks a mart it reads (one built before the mart existed),
    or one of the ``columns`` ({table: names}) a newer version added to a mart."""
    if not all(has_table(name) for name in tables) or not all(
            has_columns(table, *names) for table, names in (columns or {}).items()):
        st.info(message, icon=":material/hourglass_empty:")
        st.stop()


def explain_no_rows(nothing_yet: bool, why_nothing_yet: str, none_selected: str,
                    icon: str = ":material/hourglass_empty:") -> None:
    """Why a view has no rows: nothing to show in the whole snapshot yet, or only nothing under the filters."""
    if nothing_yet:
        st.info(why_nothing_yet, icon=icon)
    else:
        st.info(none_selected)


def explain_empty_mart(mart: str, why_nothing_yet: str, none_selected: str,
                       icon: str = ":material/hourglass_empty:") -> None:
    """:func:`explain_no_rows` for a page reading one mart: is ``marts.<mart>`` empty, or only the selection?"""
    explain_no_rows(int(query(f"select count(*) as n from marts.{mart}").iloc[0]["n"]) == 0, why_nothing_yet,
                    none_selected, icon=icon)


def number_formats(fmt: str, *columns: str) -> dict:
    """A table's column_config showing each of ``columns`` in one number format ("percent", "%.2f")."""
    return {col: st.column_config.NumberColumn(format=fmt) for col in columns}


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


def contacts_link(label: str = "Show these contacts", **filters: str) -> None:
    """A drill-down: the Conversations page listing the contacts behind a figure.

    The sidebar's period, channels and queues travel in the session; ``filters`` (the page's address
    parameters, ``LINK_FILTERS`` and ``YES_NO_FILTERS`` in pages/conversations.py) narrow it to the
    figure's own segment, so the list counts what the figure counted; a figure with a scope of its own
    sets since/until, channel and queue, which replace the sidebar's.
    """
    page = Path(__file__).resolve().parent / "pages" / "conversations.py"  # absolute: any entry script finds it
    st.page_link(str(page), label=label, icon=":material/list:",
                 query_params=filters or None)


def contacts_links(*links: tuple[str, dict[str, str]]) -> None:
    """Several drill-downs side by side: (label, address filters) each, one column per link."""
    for column, (label, filters) in zip(st.columns(len(links)), links):
        with column:
            contacts_link(label, **filters)


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
