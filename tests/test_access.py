"""Dashboard login and roles (dashboards/access.py).

The hash tests are plain unit tests. The AppTest tests drive the real app the way a person would:
with SI_AUTH_FILE set, nothing but the login form renders until someone signs in; an analyst sees
the emotion page's aggregates but no turn text; a supervisor reads the transcript.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.access import (
    TEXT_HIDDEN,
    AccessError,
    authenticate,
    can_see_text,
    hash_password,
    load_access,
    parse_hash,
    verify_password,
)
from service_insight.settings import PROJECT_ROOT, get_settings

APP = str(PROJECT_ROOT / "streamlit_app.py")
FAST = 1000  # iterations for test users: the format carries the count, so a login stays quick here
PASSWORDS = {"ana": "ana-pass-1", "sue": "sue-pass-2"}


def write_access(path, roles=None) -> None:
    roles = roles or {"ana": "analyst", "sue": "supervisor"}
    lines = []
    for name, role in roles.items():
        lines += [f"[users.{name}]", f'role = "{role}"',
                  f'password_hash = "{hash_password(PASSWORDS.get(name, "x"), iterations=FAST)}"', ""]
    path.write_text("\n".join(lines))


@pytest.fixture
def access_file(tmp_path, monkeypatch):
    path = tmp_path / "access.toml"
    write_access(path)
    monkeypatch.setenv("SI_AUTH_FILE", str(path))
    return path


# --- hashes -------------------------------------------------------------------------------------------------------


def test_right_password_verifies_and_wrong_one_is_rejected():
    encoded = hash_password("correct horse", iterations=FAST)
    assert encoded.startswith(f"pbkdf2_sha256${FAST}$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horse ", encoded)
    assert not verify_password("", encoded)
    # a fresh salt each time: the same password never gives the same line
    assert hash_password("correct horse", iterations=FAST) != encoded
    fixed = hash_password("pw", salt=b"0123456789abcdef", iterations=FAST)
    assert fixed == hash_password("pw", salt=b"0123456789abcdef", iterations=FAST)


def test_tampered_or_malformed_hash_is_rejected_not_raised():
    encoded = hash_password("secret", iterations=FAST)
    scheme, iterations, salt, digest = encoded.split("$")
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    assert not verify_password("secret", "$".join([scheme, iterations, salt, flipped]))
    assert not verify_password("secret", "$".join([scheme, str(int(iterations) + 1), salt, digest]))
    assert not verify_password("secret", "$".join([scheme, iterations, "00" + salt[2:], digest]))
    for bad in ("", "plain", "md5$1000$aa$bb", f"{scheme}$x$aa${digest}", f"{scheme}$1000$zz${digest}",
                f"{scheme}$0${salt}${digest}", f"{scheme}$99999999999${salt}${digest}", f"{scheme}$10${salt}$abcd",
                None, 42):
        assert not verify_password("secret", bad)
    with pytest.raises(AccessError):
        parse_hash("pbkdf2_sha256$1000$$" + digest)
    with pytest.raises(ValueError):
        hash_password("")


def test_unknown_user_and_wrong_password_both_fail(access_file):
    users = load_access(access_file)
    assert authenticate(users, "sue", PASSWORDS["sue"]).role == "supervisor"
    assert authenticate(users, " ana ", PASSWORDS["ana"]).role == "analyst"
    assert authenticate(users, "ana", PASSWORDS["sue"]) is None
    assert authenticate(users, "bob", PASSWORDS["ana"]) is None
    assert authenticate(users, "", "") is None


@pytest.mark.parametrize("text, message", [
    ("[users.x\nrole=", "not valid TOML"),
    ("title = 'no users'", "no [users.<name>] tables"),
    ('[users.x]\nrole = "root"\npassword_hash = "pbkdf2_sha256$1$00$' + "00" * 32 + '"', "role must be one of"),
    ('[users.x]\nrole = "analyst"\npassword_hash = "hunter2"', "users.x: password_hash must look like"),
    ('[users.x]\nrole = "analyst"', "users.x: password_hash must look like"),
    ("users = 3", "no [users.<name>] tables"),
    ("[users]\nx = 1", "users.x must be a table"),
])
def test_malformed_access_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "access.toml"
    path.write_text(text)
    with pytest.raises(AccessError, match=message.replace("[", r"\[").replace("$", r"\$")):
        load_access(path)
    with pytest.raises(AccessError, match="does not exist"):
        load_access(tmp_path / "nope.toml")


def test_example_file_is_valid_and_documents_its_passwords():
    example = PROJECT_ROOT / "dashboards" / "access.example.toml"
    users = load_access(example)
    assert {u.role for u in users.values()} == {"analyst", "supervisor"}
    text = example.read_text()
    assert "EXAMPLE ONLY" in text
    assert verify_password("analyst-example", users["analyst"].password_hash)
    assert verify_password("supervisor-example", users["supervisor"].password_hash)


def test_cli_prints_a_hash_line_that_verifies(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dashboards.access", "hash"], input="s3cret pass\n",
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=True)
    line = done.stdout.strip()
    assert line.startswith('password_hash = "pbkdf2_sha256$600000$')
    assert verify_password("s3cret pass", line.split('"')[1])
    (tmp_path / "a.toml").write_text(f'[users.z]\nrole = "supervisor"\n{line}\n')
    check = subprocess.run([sys.executable, "-m", "dashboards.access", "check", str(tmp_path / "a.toml")],
                           capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "z: supervisor"
    empty = subprocess.run([sys.executable, "-m", "dashboards.access", "hash"], input="", capture_output=True,
                           text=True, cwd=PROJECT_ROOT, timeout=60)
    assert empty.returncode == 1 and "non-empty" in empty.stderr


def test_without_an_access_file_everything_is_visible(monkeypatch):
    monkeypatch.delenv("SI_AUTH_FILE", raising=False)
    assert get_settings().auth_file == ""
    assert can_see_text()


# --- the app ------------------------------------------------------------------------------------------------------


def open_app(timeout: int = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def log_in(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="auth_username").input(user)
    at.text_input(key="auth_password").input(password)
    next(b for b in at.button if b.label == "Log in").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shows_login_form_only(at: AppTest) -> bool:
    keys = {t.key for t in at.text_input}
    return (keys == {"auth_username", "auth_password"} and not at.metric and not at.date_input
            and not at.dataframe and "filters" not in at.session_state)


def test_misconfigured_access_file_shows_an_error_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("SI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SI_AUTH_FILE", str(tmp_path / "missing.toml"))
    at = open_app()
    assert any("access file cannot be used" in e.value and "does not exist" in e.value for e in at.error)
    assert not at.text_input and not at.metric
    (tmp_path / "broken.toml").write_text('[users.a]\nrole = "root"\npassword_hash = "x"\n')
    monkeypatch.setenv("SI_AUTH_FILE", str(tmp_path / "broken.toml"))
    at.run()
    assert not at.exception
    assert any("role must be one of" in e.value for e in at.error)
    assert not at.text_input


def test_login_logout_and_removed_user_on_an_empty_warehouse(access_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SI_DATA_DIR", str(tmp_path / "data"))
    at = open_app()
    assert shows_login_form_only(at)
    log_in(at, "sue", PASSWORDS["ana"])
    assert [e.value for e in at.error] == ["Unknown user name or wrong password."]
    assert shows_login_form_only(at)
    log_in(at, "sue", PASSWORDS["sue"])
    assert at.session_state["auth_role"] == "supervisor"
    assert "auth_username" not in {t.key for t in at.text_input}
    assert any("Signed in as **sue** (supervisor)" in c.value for c in at.sidebar.caption)
    at.button(key="auth_logout").click().run()
    assert shows_login_form_only(at)
    log_in(at, "ana", PASSWORDS["ana"])
    assert at.session_state["auth_role"] == "analyst"
    write_access(access_file, {"sue": "supervisor"})  # ana is removed: the next click signs her out
    at.run()
    assert shows_login_form_only(at)


def login_and_open(page: str, user: str) -> AppTest:
    at = open_app(timeout=120)
    assert shows_login_form_only(at)
    at.switch_page(f"dashboards/pages/{page}.py").run()  # a deep link does not skip the login
    assert shows_login_form_only(at)
    log_in(at, user, PASSWORDS[user])
    at.switch_page(f"dashboards/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def pick_alert(at: AppTest) -> str:
    box = at.selectbox(key="emotion_alert")
    box.select_index(min(3, len(box.options) - 1)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state["emotion_alert"]


def turn_texts(conversation_id: str) -> list[str]:
    import duckdb

    from warehouse.snapshot import current

    ref = current(get_settings().snapshot_dir)
    with duckdb.connect(str(ref.path), read_only=True) as conn:
        rows = conn.execute("select text from marts.fct_turns where conversation_id = ? order by turn_index",
                            [conversation_id]).fetchall()
    return [r[0] for r in rows]


@pytest.mark.slow
def test_analyst_sees_emotion_aggregates_but_no_turn_text(use_built, access_file):
    at = login_and_open("emotion", "ana")
    assert any(m.label == "Alerts" for m in at.metric)  # the aggregates stay
    picked = pick_alert(at)
    assert len(at.chat_message) == 0
    assert TEXT_HIDDEN in [i.value for i in at.info]
    texts = [t for t in turn_texts(picked) if t and len(t) > 20]
    assert texts
    shown = " ".join(m.value for m in at.markdown)
    assert not any(t in shown for t in texts)
    assert all("alert_text" not in d.value.columns for d in at.dataframe)  # nor in the alerts table
    assert not any("conversation" in b.label.lower() for b in at.get("download_button"))


@pytest.mark.slow
def test_analyst_sees_quality_checks_without_the_evidence_words(use_built, access_file):
    at = login_and_open("quality", "ana")
    assert at.dataframe and all("evidence_text" not in _columns(d) for d in at.dataframe)
    at = login_and_open("quality", "sue")
    assert any("evidence_text" in _columns(d) for d in at.dataframe)


def _columns(element) -> list[str]:
    value = element.value
    return list(getattr(value, "columns", getattr(getattr(value, "data", None), "columns", [])))


@pytest.mark.slow
def test_supervisor_reads_the_transcript(use_built, access_file):
    at = login_and_open("emotion", "sue")
    picked = pick_alert(at)
    assert len(at.chat_message) == len(turn_texts(picked)) > 0
    assert TEXT_HIDDEN not in [i.value for i in at.info]


@pytest.mark.slow
def test_analyst_gets_no_translated_conversation(use_built, access_file):
    at = login_and_open("languages", "ana")
    assert any(m.label.endswith(" contacts") for m in at.metric)
    assert TEXT_HIDDEN in [i.value for i in at.info]
    assert not any("original" in d.value.columns for d in at.dataframe)


# --- audit log, throttling, roles that read quarantined records ----------------------------------------------------


def test_failed_sign_ins_back_off_exponentially_and_a_success_resets(tmp_path):
    from datetime import datetime, timedelta, timezone

    from dashboards import audit

    log = tmp_path / "events.jsonl"
    for _ in range(audit.FREE_FAILURES - 1):
        audit.record("sign_in_failed", "mallory", path=log)
    assert audit.throttle_for("mallory", path=log).wait_seconds == 0  # a few typos cost nothing
    audit.record("sign_in_failed", "mallory", path=log)
    now = datetime.now(timezone.utc)
    first = audit.throttle_for("mallory", now=now, path=log)
    assert first.failures == audit.FREE_FAILURES and 1.0 < first.wait_seconds <= 2.0
    audit.record("sign_in_failed", "mallory", path=log)
    assert 3.0 < audit.throttle_for("mallory", now=now, path=log).wait_seconds <= 4.0  # doubles
    for _ in range(30):
        audit.record("sign_in_failed", "mallory", path=log)
    assert audit.throttle_for("mallory", now=now, path=log).wait_seconds <= audit.MAX_WAIT_SECONDS
    assert audit.throttle_for("mallory", now=now + timedelta(seconds=audit.MAX_WAIT_SECONDS + 1),
                              path=log).wait_seconds == 0
    assert audit.throttle_for("alice", now=now, path=log).wait_seconds == 0  # per user name
    audit.record("sign_in", "mallory", path=log)
    assert audit.throttle_for("mallory", path=log) == audit.Throttle(0, 0.0)
    with pytest.raises(ValueError):
        audit.record("coffee", "mallory", path=log)


def test_repeated_wrong_passwords_are_refused_without_checking_then_audited(access_file, tmp_path, monkeypatch):
    from dashboards import audit

    monkeypatch.setenv("SI_DATA_DIR", str(tmp_path / "data"))
    at = open_app()
    for _ in range(audit.FREE_FAILURES):
        log_in(at, "sue", "guess")
        assert [e.value for e in at.error] == ["Unknown user name or wrong password."]
    log_in(at, "sue", PASSWORDS["sue"])  # even the right password waits while the name backs off
    assert at.error and at.error[0].value.startswith("Too many failed sign-ins for this user name")
    assert shows_login_form_only(at)
    log_in(at, "ana", PASSWORDS["ana"])  # another user is not slowed down
    assert at.session_state["auth_role"] == "analyst"
    events = [(e["event"], e["user"]) for e in audit.read_events(tmp_path / "data" / "audit" / "events.jsonl")]
    assert events == [("sign_in_failed", "sue")] * audit.FREE_FAILURES + [("sign_in_throttled", "sue"),
                                                                          ("sign_in", "ana")]


def test_a_role_change_and_a_sign_out_are_audited_and_only_admins_read_the_log(access_file, tmp_path, monkeypatch):
    from dashboards import audit

    monkeypatch.setenv("SI_DATA_DIR", str(tmp_path / "data"))
    at = login_and_open("admin", "ana")
    assert "The audit log is visible to admins." in [i.value for i in at.info] and not at.dataframe
    write_access(access_file, {"ana": "admin", "sue": "supervisor"})
    at.run()
    assert not at.exception and at.dataframe
    log = at.dataframe[0].value
    assert {"sign_in", "role_change"} <= set(log["event"])
    at.button(key="auth_logout").click().run()
    changes = [e for e in audit.read_events(tmp_path / "data" / "audit" / "events.jsonl")
               if e["event"] in ("role_change", "sign_out")]
    assert [(e["event"], e.get("before"), e.get("after")) for e in changes] == [
        ("role_change", "analyst", "admin"), ("sign_out", None, None)]


def test_the_audit_log_is_copied_into_the_warehouse_once_and_edits_are_reported(tmp_path):
    import duckdb

    from dashboards import audit
    from warehouse.audit_log import load_audit_log

    log = tmp_path / "events.jsonl"
    audit.record("sign_in", "ana", path=log)
    audit.record("export", "ana", path=log, file="kpi.csv", rows=12)
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = load_audit_log(conn, log)
    assert (first.lines_in_file, first.lines_added, first.lines_changed, first.lines_missing) == (2, 2, (), 0)
    again = load_audit_log(conn, log)
    assert again.lines_added == 0 and again.lines_changed == ()  # idempotent
    audit.record("role_change", "sue", path=log, before="analyst", after="admin")
    with log.open("ab") as fh:
        fh.write(b"not json at all\n")
    third = load_audit_log(conn, log)
    assert third.lines_added == 2
    rows = conn.execute("select line_no, event, user_name, detail, raw_line from raw.audit_events order by line_no").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "sign_in", "ana"), (2, "export", "ana"),
                                                   (3, "role_change", "sue"), (4, "unreadable", None)]
    assert '"rows": 12' in rows[1][3] and rows[3][4] == "not json at all"
    assert conn.execute("select count(*) from raw.audit_events where event_at is null").fetchone()[0] == 1
    # Someone erases the export from the log and drops the last line: the warehouse keeps what it copied.
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[1].replace(b"export", b"sign_out") + lines[2])
    edited = load_audit_log(conn, log)
    assert edited.lines_changed == (2,) and edited.lines_missing == 1 and edited.lines_added == 0
    assert conn.execute("select event from raw.audit_events where line_no = 2").fetchone()[0] == "export"
    assert load_audit_log(conn, tmp_path / "absent.jsonl").lines_in_file == 0


@pytest.mark.slow
def test_quarantined_records_are_read_by_data_stewards_only(use_built, access_file):
    from dashboards.access import QUARANTINE_HIDDEN

    PASSWORDS.setdefault("dan", "dan-pass-3")
    write_access(access_file, {"ana": "analyst", "sue": "supervisor", "dan": "data-steward"})
    for user, reads in (("ana", False), ("sue", False), ("dan", True)):
        at = login_and_open("data_quality", user)
        tables = [_columns(d) for d in at.dataframe]
        assert any("reason" in cols for cols in tables), user
        assert any("record" in cols for cols in tables) is reads, user
        assert (QUARANTINE_HIDDEN in [i.value for i in at.info]) is not reads, user


def test_only_the_dashboards_follow_si_host(capsys):
    from service_insight.cli import serve_hosts

    assert serve_hosts("0.0.0.0") == ("0.0.0.0", "127.0.0.1")
    assert serve_hosts("127.0.0.1") == ("127.0.0.1", "127.0.0.1")


@pytest.mark.slow
def test_an_analyst_gets_past_answers_without_the_customers_question(imported_build, access_file):
    """The live answer offers agents' past replies to every role, but the past customer question is conversation
    text: a supervisor reads it, an analyst sees that it is hidden."""
    from unittest import mock

    from tests.conftest import point_settings_at

    with mock.patch.dict(os.environ):
        point_settings_at(imported_build[0])
        os.environ["SI_AUTH_FILE"] = str(access_file)
        for user, sees in (("ana", False), ("sue", True)):
            at = login_and_open("answer", user)
            at.text_area[0].input("@AppleSupport 11.1 on an iPhone 7")
            next(b for b in at.button if b.label == "Answer").click().run()
            assert not at.exception, [e.value for e in at.exception]
            labels = " ".join(e.label for e in at.expander)
            assert ("iPhone 7" in labels) is sees and ("text hidden for your role" in labels) is not sees, labels
            assert any(t.value == "Update to 11.1.1 - that fixes it." for t in at.text_area)  # the reply, for both


@pytest.mark.slow
def test_a_trainee_practises_but_reads_no_transcript_and_an_analyst_cannot_practise(use_built, access_file):
    """The trainee role opens the simulator (signed in: sessions carry the login, no name to type) and is refused
    the Review page like an analyst; an analyst is refused the simulator."""
    PASSWORDS.setdefault("tom", "tom-pass-4")
    write_access(access_file, {"ana": "analyst", "sue": "supervisor", "tom": "trainee"})
    at = login_and_open("simulator", "tom")
    assert not any("open to trainees" in i.value for i in at.info)
    assert "sim_trainee" not in {t.key for t in at.text_input}  # signed in: no name to type
    assert "Start a case" in [b.label for b in at.button]
    at = login_and_open("review", "tom")
    assert any("open to supervisors" in i.value for i in at.info) and not at.dataframe
    at = login_and_open("simulator", "ana")
    assert any("open to trainees" in i.value for i in at.info)
    assert "Start a case" not in [b.label for b in at.button]


@pytest.mark.slow
def test_an_analyst_lists_conversations_without_their_text_and_a_supervisor_reads_them(use_built, access_file):
    at = login_and_open("conversations", "ana")
    captions = " ".join(c.value for c in at.caption)
    assert "without the first message" in captions
    assert all("first_customer_message" not in _columns(d) for d in at.dataframe)
    first = at.dataframe[0].value.iloc[0]["conversation_id"]
    at.text_input[0].set_value(first).run()
    assert len(at.chat_message) == 0 and TEXT_HIDDEN in [i.value for i in at.info]
    assert {"Intent", "Emotion path"} <= {line.split(":**")[0].lstrip("- *") for m in at.markdown
                                           for line in m.value.splitlines() if ":**" in line}
    at = login_and_open("conversations", "sue")
    assert "without the first message" not in " ".join(c.value for c in at.caption)
    at.text_input[0].set_value(first).run()
    assert len(at.chat_message) == len(turn_texts(first)) > 0
