"""The dashboards in a real headless Chromium: every page loads with no exception shown.

Screenshots go to tests/artifacts/screenshots/ (named in the README).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service_insight.settings import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = PROJECT_ROOT / "tests" / "artifacts" / "screenshots"
PAGES = {"overview": ("", "Overview"), "overview_by_name": ("overview", "Overview"), "data_quality": ("data_quality", "Data quality"),  # the default page is "/"
         "emotion": ("emotion", "Emotion"), "quality": ("quality", "Quality"),
         "knowledge_graph": ("knowledge_graph", "Knowledge graph"), "languages": ("languages", "Languages"),
         "models": ("models", "Models"), "tickets": ("tickets", "Tickets"),
         "forecast": ("forecast", "Forecast and staffing"), "value": ("value", "Value"), "admin": ("admin", "Admin")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(built):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian chromium + chromium-driver are not installed (make test installs them)")
    port = _free_port()
    env = {**os.environ, "SI_DATA_DIR": str(built.data_dir)}
    for name in ("SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_LANDING_DIR"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy in 60 s")
    yield base, chromium, driver
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    _, chromium, driver_path = server
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1800"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield drv
    drv.quit()


@pytest.mark.parametrize("slug", list(PAGES))
def test_page_loads_in_chromium_without_exception(server, browser, slug):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base = server[0]
    path, title = PAGES[slug]
    browser.get(f"{base}/{path}")
    WebDriverWait(browser, 60).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), title))
    # Let charts and tables finish rendering before judging the page.
    WebDriverWait(browser, 60).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stSkeleton']"))
    time.sleep(2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{slug}.png"))
    errors = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    assert not errors, [e.text[:500] for e in errors]
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body
    assert "Page not found" not in body
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']")


def test_live_answer_in_chromium_answers_a_typed_message(server, browser):
    """An agent types a Chinese message and presses Answer: the readings and a reply appear."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server[0]}/answer")
    WebDriverWait(browser, 60).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), "Live answer"))
    box = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid='stMain'] textarea"))
    box.send_keys("我的订单还没有到，已经一个星期了，帮我查一下物流")
    next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip().endswith("Answer")).click()
    WebDriverWait(browser, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']")) >= 4)
    time.sleep(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "answer.png"))
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    metrics = " ".join(m.text for m in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']"))
    assert "zh" in metrics and "Intent" in metrics
    assert "Suggested reply" in browser.find_element(By.TAG_NAME, "body").text

