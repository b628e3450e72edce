"""Open a dashboard page in AppTest the way a user reaches it: the app's landing page first, then
its navigation to the page (a page file run on its own would miss the frame ``streamlit_app.py``
sets up: settings, sidebar filters, the login)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service_insight.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

APP = str(PROJECT_ROOT / "streamlit_app.py")


def open_page(page: str | None = None, timeout: float = 60) -> AppTest:
    """The app run once, then switched to ``page`` (``dashboards/pages/<name>.py``) and run again when given."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at
