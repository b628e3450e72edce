"""Every dashboard page renders on the built warehouse (AppTest), and shows an empty state before it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from service_insight.settings import PROJECT_ROOT
from tests.app_pages import open_page
from tests.conftest import point_settings_at

PAGES = ["dashboards/pages/overview.py", "dashboards/pages/answer.py", "dashboards/pages/data_quality.py", "dashboards/pages/value.py",
         "dashboards/pages/forecast.py", "dashboards/pages/tickets.py", "dashboards/pages/conversations.py",
         "dashboards/pages/service_levels.py", "dashboards/pages/surveys.py",
         "dashboards/pages/emotion.py", "dashboards/pages/quality.py", "dashboards/pages/knowledge_graph.py",
         "dashboards/pages/languages.py", "dashboards/pages/models.py", "dashboards/pages/admin.py",
         "dashboards/pages/review.py", "dashboards/pages/virtual_agent.py", "dashboards/pages/simulator.py"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planted_pii(built) -> set[str]:
    """Every personal value the generator planted: in the text truth and in the CRM file."""
    import duckdb
    import pandas as pd

    values = set(pd.read_parquet(built.settings.ground_truth_dir / "truth_pii.parquet")["value"])
    with duckdb.connect() as conn:
        rows = conn.execute(f"select full_name, phone, email, id_card, bank_card from read_csv("
                            f"'{built.settings.landing_dir}/customers/*.csv', all_varchar=true)").fetchall()
    return values | {v for row in rows for v in row if v}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception_and_shows_no_planted_pii(use_built, planted_pii, page):
    from tests.page_text import find_leaks

    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title
    assert not find_leaks(at, planted_pii)  # tables, captions, labels, options, chart data: everything sent


def test_overview_shows_the_kpis_of_the_period(use_built):
    at = open_page()
    labels = [m.label for m in at.metric]
    assert {"Contacts", "Avg handle time", "First-contact resolution", "Transfer rate", "Abandonment",
            "Cost per contact", "CSAT (1-5)", "NPS"} <= set(labels)
    contacts = next(m for m in at.metric if m.label == "Contacts")
    assert int(contacts.value.replace(",", "")) > 0


def test_channel_filter_narrows_the_overview(use_built):
    at = open_page()
    everything = int(next(m for m in at.metric if m.label == "Contacts").value.replace(",", ""))
    at.sidebar.multiselect(key="channels").set_value(["email"]).run()
    email_only = int(next(m for m in at.metric if m.label == "Contacts").value.replace(",", ""))
    assert 0 < email_only < everything


def test_data_quality_page_lists_the_quarantine(use_built):
    at = open_page("dashboards/pages/data_quality.py")
    labels = {m.label: m.value for m in at.metric}
    assert labels["Counts reconcile"] == "yes"
    assert int(labels["Quarantined"].replace(",", "")) == sum(use_built.summary["injected_bad_rows"].values())
    assert at.dataframe
    # The generator's reviewers agree with the truth 95% and 90% of the time: agreement sits near 0.95 x 0.90.
    for kind in ("intent", "emotion", "act"):
        rate = float(labels[f"{kind} agreement"].rstrip("%")) / 100
        assert 0.75 <= rate <= 0.95, (kind, rate)


def test_pages_show_an_empty_state_before_the_first_build(tmp_path):
    point_settings_at(tmp_path)
    for page in [None, *PAGES[1:]]:
        at = open_page(page)
        assert not at.exception
        assert any("snapshot" in i.value.lower() for i in at.info)


def test_the_menu_has_sections_and_the_root_opens_the_overview(tmp_path):
    from dashboards.app import PAGES as MENU
    from dashboards.app import SECTIONS

    assert list(SECTIONS) == ["Operations", "Customers", "Quality", "Insight", "Models", "Admin"]
    scripts = [str(p._page.relative_to(PROJECT_ROOT)) for p in MENU]
    assert sorted(scripts) == sorted(PAGES) and len(scripts) == len(set(scripts))  # every page once
    point_settings_at(tmp_path)
    at = open_page(None)  # "/" hands over to the Overview at its own URL (/overview)
    assert not at.exception and "Overview" in [t.value for t in at.title]


def test_streamlit_run_of_the_frame_itself_serves_the_overview(use_built):
    """`streamlit run dashboards/app.py` works as well as the entry script at the root."""
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboards" / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Overview" in [t.value for t in at.title] and "Contacts" in [m.label for m in at.metric]


def test_the_admin_page_says_where_the_locale_comes_from(use_built):
    at = open_page("dashboards/pages/admin.py")
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert f"Asia/Shanghai (from {use_built.data_dir / 'settings.toml'})" in text  # the sample's own file
    assert "the `holidays` seed for CN" in text
