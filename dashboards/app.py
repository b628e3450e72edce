"""Service Insight dashboards: the frame (title, global filters) and the page navigation.

Run with ``make run`` / ``service-insight serve``, or ``streamlit run streamlit_app.py`` or
``streamlit run dashboards/app.py`` from the repository root: the navigation below names every
page, so Streamlit does not read ``dashboards/pages/`` as its legacy page folder either way.
Filters set here apply to every page and survive page changes because they live in the session
state.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a script from a checkout not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from dashboards.access import login_gate  # noqa: E402
from dashboards.data import Filters, query, snapshot  # noqa: E402
from dashboards.readings import render_reading_sources  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

def _page(script: str, title: str, icon: str, **kwargs) -> st.Page:
    return st.Page(str(ROOT / "dashboards" / "pages" / f"{script}.py"), title=title, icon=f":material/{icon}:",
                   url_path=kwargs.pop("url_path", script), **kwargs)


OVERVIEW = _page("overview", "Overview", "monitoring")


def _home() -> None:
    """The app root: straight on to the Overview at its own URL.

    Why not make the Overview the default page: Streamlit serves a default page only at "/" and
    answers its own name (/overview, the address people bookmark and share) with "Page not found".
    """
    st.switch_page(OVERVIEW)


# The menu, in sections.
SECTIONS = {
    "Operations": [
        st.Page(_home, title="Overview", url_path="home", default=True, visibility="hidden"),
        OVERVIEW,
        _page("answer", "Live answer", "bolt"),
        _page("virtual_agent", "Virtual agent", "support_agent"),
        _page("tickets", "Tickets", "confirmation_number"),
        _page("conversations", "Conversations", "forum"),
        _page("service_levels", "Service levels", "timer"),
        _page("forecast", "Forecast & staffing", "query_stats"),
    ],
    "Customers": [
        _page("emotion", "Emotion", "mood_bad"),
        _page("languages", "Languages", "translate"),
        _page("surveys", "Surveys", "poll"),
    ],
    "Quality": [
        _page("quality", "Quality", "fact_check"),
        _page("data_quality", "Data quality", "rule"),
        _page("review", "Review", "rate_review"),
        _page("simulator", "Trainee simulator", "school"),
    ],
    "Insight": [
        _page("value", "Value", "sell"),
        _page("knowledge_graph", "Knowledge graph", "hub"),
    ],
    "Models": [_page("models", "Models", "model_training")],
    "Admin": [
        _page("admin", "Admin", "admin_panel_settings"),
    ],
}
PAGES = [page for pages in SECTIONS.values() for page in pages if page.visibility == "visible"]


def sidebar_filters() -> None:
    ref = snapshot()
    st.sidebar.title("Service Insight")
    if ref is None:
        st.sidebar.info("No published warehouse snapshot yet.")
        st.session_state["filters"] = None
        return
    st.sidebar.caption(f"Snapshot {ref.version[:15]} · published {ref.published_at[:19].replace('T', ' ')} UTC")
    if ref.pending:
        st.info("First results: volumes, handle times, forecasts and the other core figures are in. The models "
                "(intent, emotion, quality checks, translation, knowledge graph, answer index) are still running, "
                "so their readings are empty for now; every page fills in when the full build publishes.",
                icon=":material/hourglass_top:")
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
    render_reading_sources()


def main() -> None:
    st.set_page_config(page_title="Service Insight", page_icon=":material/support_agent:", layout="wide")
    login_gate()  # stops the run at a login form when SI_AUTH_FILE is set and nobody is signed in
    sidebar_filters()
    st.navigation(SECTIONS).run()


if __name__ == "__main__":  # `streamlit run dashboards/app.py` runs this file as the main script
    main()
