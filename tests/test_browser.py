"""The dashboards in a real headless Chromium: every page loads with no exception shown.

Screenshots go to tests/artifacts/screenshots/ (named in the README).
"""

from __future__ import annotations

import os
import re
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
         "models": ("models", "Models"), "tickets": ("tickets", "Tickets"), "conversations": ("conversations", "Conversations"),
         "service_levels": ("service_levels", "Service levels"), "surveys": ("surveys", "Surveys"),
         "forecast": ("forecast", "Forecast and staffing"), "value": ("value", "Value"), "admin": ("admin", "Admin")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_streamlit(data_dir: Path, **env_extra: str):
    """A real `streamlit run` of the app over data_dir: (process, base URL, chromium, chromedriver)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian chromium + chromium-driver are not installed (make test installs them)")
    port = _free_port()
    env = {**os.environ, "SI_DATA_DIR": str(data_dir)}
    for name in ("SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_LANDING_DIR", "SI_TAXONOMY", "SI_TIMEZONE", "SI_HOLIDAY_COUNTRY"):
        env.pop(name, None)
    env.update(env_extra)
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
    return proc, base, chromium, driver


@pytest.fixture(scope="module")
def server(built):
    proc, base, chromium, driver = _start_streamlit(built.data_dir)
    yield base, chromium, driver
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    drv = _chrome(*server[1:])
    yield drv
    drv.quit()


def _chrome(chromium: str, driver_path: str):
    """Headless Chromium driven by chromedriver, with nothing that would reach the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1800"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def _wait_until_settled(browser, timeout: float = 60) -> None:
    """Until the page's script has run to its end, twice in a row a moment apart, with no skeleton left.

    Why not a fixed pause: the app marks its run state on the root element (``data-test-script-state``);
    waiting on it is as long as the page needs and no longer. Twice: a page that sets its address
    parameters runs once more straight after.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def idle(d) -> bool:
        try:
            return (d.find_element(By.CSS_SELECTOR, "[data-testid='stApp']").get_attribute("data-test-script-state")
                    == "notRunning" and not d.find_elements(By.CSS_SELECTOR, "[data-testid='stSkeleton']"))
        except WebDriverException:  # re-rendered under us
            return False

    def settled(d) -> bool:
        if not idle(d):
            return False
        time.sleep(0.3)
        return idle(d)

    WebDriverWait(browser, timeout, poll_frequency=0.2).until(settled)


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
    # Judge the page once its script has finished (an exception is rendered by then) and nothing is loading.
    _wait_until_settled(browser)
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



def _metric(browser, label: str) -> str | None:
    """The value of the tile called ``label``, None while the page has no such tile (yet)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        for metric in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']"):
            if metric.find_element(By.CSS_SELECTOR, "[data-testid='stMetricLabel']").text.strip() == label:
                return metric.find_element(By.CSS_SELECTOR, "[data-testid='stMetricValue']").text.strip()
    except WebDriverException:  # the page re-rendered under us: not there yet
        return None
    return None


@pytest.mark.parametrize("path, title, link_text, tile", [
    ("tickets", "Tickets", "The contacts behind these tickets", "Tickets"),
    ("forecast", "Forecast and staffing", "contacts of the actual line", None),  # the count is in the link
])
def test_a_figure_drills_down_to_the_same_number_of_contacts_in_chromium(server, browser, path, title, link_text,
                                                                          tile):
    """Click the figure's link as a user does: the Conversations page opens with its filters and lists as many."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server[0]}/{path}")
    WebDriverWait(browser, 60).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), title))
    link = WebDriverWait(browser, 60).until(lambda d: next(
        (a for a in d.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] a") if link_text in a.text), None))
    expected = (WebDriverWait(browser, 30).until(lambda d: _metric(d, tile)) if tile
                else re.search(r"The ([0-9,]+) contacts", link.text).group(1))
    assert expected and expected != "0", expected
    link.click()
    WebDriverWait(browser, 60).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), "Conversations"))
    WebDriverWait(browser, 60).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stSkeleton']"))
    WebDriverWait(browser, 30).until(lambda d: _metric(d, "Conversations") == expected)
    assert "conversations?" in browser.current_url and not browser.find_elements(
        By.CSS_SELECTOR, "[data-testid='stException']")


# ---- the Review page: two blind reviewers and an adjudicator, each in their own browser session ----------

def _selectbox(browser, label: str, value: str) -> None:
    """Pick an option of the Streamlit selectbox with this label, as a person does: open it, click the option."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = next(b for b in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox']")
               if b.find_element(By.CSS_SELECTOR, "[data-testid='stWidgetLabel']").text.strip() == label)
    box.find_element(By.CSS_SELECTOR, "[role='combobox']").click()
    option = WebDriverWait(browser, 20).until(lambda d: next(
        (o for o in d.find_elements(By.CSS_SELECTOR, "[role='option']") if o.text.strip() == value), None))
    option.click()


def _open_review_as(browser, base: str, name: str) -> str:
    """A new session on the Review page signed in as `name`; the body text once the page has settled."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/review")  # a page load is a new Streamlit session: nothing of the last reviewer stays
    WebDriverWait(browser, 60).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"),
                                                                      "Review"))
    field = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid='stTextInput'] input"))
    field.send_keys(name + Keys.ENTER)
    WebDriverWait(browser, 60).until(lambda d: "waiting for you" in d.find_element(By.TAG_NAME, "body").text)
    time.sleep(1)
    return browser.find_element(By.TAG_NAME, "body").text


def _label_intent(browser, intent: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    conversation = next(h.text for h in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] h3")
                        if h.text.startswith("Conversation ")).removeprefix("Conversation ").strip()
    _selectbox(browser, "Intent", intent)
    next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Save my labels").click()
    WebDriverWait(browser, 60).until(
        lambda d: f"Saved 1 label(s) for {conversation}." in d.find_element(By.TAG_NAME, "body").text)
    return conversation


def test_two_blind_reviewers_and_an_adjudicator_in_chromium(imported_build, tmp_path):
    """On the label-less imported build: Anneliese labels the contact offered first, Bartholomew is offered the
    same one without any trace of Anneliese, they disagree, and Cordelia finds the disagreement to settle; the
    labels land as landing files under each reviewer's name."""
    import json as _json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    landing = tmp_path / "landing"  # this server's labels go here, not into the shared imported build
    proc, base, chromium, driver = _start_streamlit(imported_build[0], SI_LANDING_DIR=str(landing))
    browser = _chrome(chromium, driver)
    try:
        _open_review_as(browser, base, "Anneliese")
        first = _label_intent(browser, "billing_problem")
        page = _open_review_as(browser, base, "Bartholomew")
        assert f"Conversation {first}" in page  # the pair to complete comes first
        assert "Anneliese" not in page and "billing_problem vs" not in page  # blind: nothing of Anneliese's label
        assert _label_intent(browser, "device_problem") == first
        _open_review_as(browser, base, "Cordelia")
        next(t for t in browser.find_elements(By.CSS_SELECTOR, "[role='tab']") if t.text.strip() == "Adjudicate").click()
        WebDriverWait(browser, 60).until(lambda d: f"intent: {first} — billing_problem vs device_problem"
                                         in d.find_element(By.TAG_NAME, "body").text)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "review_adjudicate.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    finally:
        browser.quit()
        proc.terminate()
        proc.wait(timeout=20)
    written = [_json.loads(line) for f in sorted((landing / "annotations").glob("*-review-*.jsonl"))
               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sorted((r["annotator"], r["conversation_id"]) for r in written) == [("Anneliese", first),
                                                                              ("Bartholomew", first)]


def test_the_virtual_agent_hears_an_uploaded_recording_and_answers_aloud_in_chromium(imported_build, tmp_path):
    """A recorded question (spoken by the packaged voice) uploaded in a real browser: the page shows what it heard,
    the answer, and the talking face with its audio."""
    speech = pytest.importorskip("ml.speech")
    pytest.importorskip("faster_whisper", reason="the voice extra is not installed (make install adds it)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    recording = tmp_path / "question.wav"
    recording.write_bytes(speech.Voice(*speech.packaged_voices()["en"]).speak("11.1 on an iPhone 7").wav)
    proc, base, chromium, driver = _start_streamlit(imported_build[0], SI_LANDING_DIR=str(tmp_path / "landing"))
    browser = _chrome(chromium, driver)
    try:
        browser.get(f"{base}/virtual_agent")
        WebDriverWait(browser, 60).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), "Virtual agent"))
        upload = WebDriverWait(browser, 120).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']"))
        upload.send_keys(str(recording))
        WebDriverWait(browser, 180).until(lambda d: "Heard (en" in d.find_element(By.TAG_NAME, "body").text)
        WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"))
        time.sleep(1)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "virtual_agent.png"))
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "iPhone 7" in body and "Service assistant:" in body, body[-1500:]
        assert "Spoken by the en_US-joe-medium voice" in body
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
        browser.switch_to.frame(browser.find_elements(By.CSS_SELECTOR, "iframe")[0])
        assert browser.find_elements(By.CSS_SELECTOR, "svg#face path#mouth") and \
            browser.find_element(By.ID, "voice").get_attribute("src").startswith("data:audio/wav;base64,")
    finally:
        browser.quit()
        proc.terminate()
        proc.wait(timeout=20)
