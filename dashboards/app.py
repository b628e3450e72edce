"""Service Insight dashboards: the frame (title, global filters) and the page navigation.

Run with ``streamlit run streamlit_app.py`` (repository root). The entry script cannot live
beside ``dashboards/pages/``: Streamlit treats a ``pages/`` folder next to the main script as the
legacy multipage layout and would then never run this frame. Filters set here apply to every
page and survive page changes because they live in the session state.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import streamlit as st

from dashboards.access import login_gate
from dashboards.data import Filters, query, snapshot

ROOT = Path(__file__).resolve().parent.parent

PAGES = [
    st.Page(str(ROOT / "dashboards" / "pages" / "overview.py"), title="Overview", icon=":material/monitoring:",
            url_path="overview", default=True),
    st.Page(str(ROOT / "dashboards" / "pages" / "answer.py"), title="Live answer", icon=":material/bolt:",
            url_path="answer"),
    st.Page(str(ROOT / "dashboards" / "pages" / "data_quality.py"), title="Data quality", icon=":material/rule:",
            url_path="data_quality"),
    st.Page(str(ROOT / "dashboards" / "pages" / "tickets.py"), title="Tickets", icon=":material/confirmation_number:",
            url_path="tickets"),
    st.Page(str(ROOT / "dashboards" / "pages" / "forecast.py"), title="Forecast & staffing",
            icon=":material/query_stats:", url_path="forecast"),
    st.Page(str(ROOT / "dashboards" / "pages" / "value.py"), title="Value", icon=":material/sell:", url_path="value"),
    st.Page(str(ROOT / "dashboards" / "pages" / "emotion.py"), title="Emotion", icon=":material/mood_bad:",
            url_path="emotion"),
    st.Page(str(ROOT / "dashboards" / "pages" / "quality.py"), title="Quality", icon=":material/fact_check:",
            url_path="quality"),
    st.Page(str(ROOT / "dashboards" / "pages" / "knowledge_graph.py"), title="Knowledge graph", icon=":material/hub:",
            url_path="knowledge_graph"),
    st.Page(str(ROOT / "dashboards" / "pages" / "languages.py"), title="Languages", icon=":material/translate:",
            url_path="languages"),
    st.Page(str(ROOT / "dashboards" / "pages" / "models.py"), title="Models", icon=":material/model_training:",
            url_path="models"),
    st.Page(str(ROOT / "dashboards" / "pages" / "admin.py"), title="Admin", icon=":material/admin_panel_settings:",
            url_path="admin"),
]


def sidebar_filters() -> None:
    ref = snapshot()
    st.sidebar.title("Service Insight")
    if ref is None:
        st.sidebar.info("No published warehouse snapshot yet.")
        st.session_state["filters"] = None
        return
    st.sidebar.caption(f"Snapshot {ref.version[:15]} · published {ref.published_at[:19].replace('T', ' ')} UTC")
    bounds = query("select min(kpi_date) as lo, max(kpi_date) as hi from marts.fct_kpi_daily")
    if bounds.empty or bounds.iloc[0]["lo"] is None or str(bounds.iloc[0]["lo"]) == "NaT":
        lo = hi = date.today()
    else:
        lo, hi = bounds.iloc[0]["lo"].date(), bounds.iloc[0]["hi"].date()
    default_start = max(lo, hi - timedelta(days=29))
    # A period kept from an older snapshot may fall outside this one's dates: clamp it.
    kept = st.session_state.get("period", (default_start, hi))
    kept = (min(max(kept[0], lo), hi), min(max(kept[1], lo), hi))
    picked = st.sidebar.date_input("Period", value=kept, min_value=lo, max_value=hi)
    if isinstance(picked, tuple) and len(picked) == 2:
        st.session_state["period"] = picked
    start, end = st.session_state.get("period", kept)
    channels = query("select distinct channel from marts.fct_kpi_daily order by 1")
    queues = query("select distinct queue_id from marts.fct_kpi_daily where queue_id is not null order by 1")
    chosen_channels = st.sidebar.multiselect("Channels", channels["channel"].tolist() if not channels.empty else [],
                                             key="channels", placeholder="All channels")
    chosen_queues = st.sidebar.multiselect("Queues", queues["queue_id"].tolist() if not queues.empty else [],
                                           key="queues", placeholder="All queues")
    st.session_state["filters"] = Filters(start, end, tuple(chosen_channels), tuple(chosen_queues))
    st.session_state["data_start"] = lo


def main() -> None:
    st.set_page_config(page_title="Service Insight", page_icon=":material/support_agent:", layout="wide")
    login_gate()  # stops the run at a login form when SI_AUTH_FILE is set and nobody is signed in
    sidebar_filters()
    st.navigation(PAGES).run()
