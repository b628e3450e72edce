"""Who may open the dashboards, and who may read conversation text.

Why: the aggregates (volumes, rates, scores) are fine for every analyst, but a conversation's
turns are personal data even when masked, so only supervisors read them. The whole policy is one
TOML file named by ``SI_AUTH_FILE``::

    [users.alice]
    role = "supervisor"            # or "analyst", "trainee", "data-steward", "admin"
    password_hash = "pbkdf2_sha256$600000$<salt hex>$<hash hex>"

Make a hash line with ``python -m dashboards.access hash`` (the password is read from stdin or
typed twice). With no ``SI_AUTH_FILE`` there is no login and everything is visible, as before.
When the file is set but missing or malformed the dashboards refuse to open (fail closed) and say
why, rather than silently showing everything.

Passwords are stored as PBKDF2-HMAC-SHA256 with a per-user random salt; the iteration count is
kept in the hash so it can be raised later without invalidating existing lines.

Roles: an analyst sees aggregates; a trainee sees aggregates and practises on the trainee simulator
(its simulated customers speak with masked conversation text; the progress tab shows a trainee their
own figures only); a supervisor also reads conversation text; a data steward
reads text and the quarantined records (the records that failed validation hold the same
personal data as conversations); an admin reads everything and the audit log. Every sign-in,
failed sign-in, refused (throttled) attempt, sign-out, export and role change is appended to the
audit log (``dashboards.audit``), and repeated failures for a user name back off exponentially.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import math
import secrets
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboards import audit
from service_insight.settings import get_settings

ROLES = ("analyst", "trainee", "supervisor", "data-steward", "admin")
TEXT_ROLES = ("supervisor", "data-steward", "admin")  # may read conversation text
# May practise on the trainee simulator, whose customers speak with real (masked) conversation text.
TRAINING_ROLES = ("trainee", "supervisor", "data-steward", "admin")
QUARANTINE_ROLES = ("data-steward", "admin")  # may read quarantined records
SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256; ~0.3 s per login on one core
MAX_ITERATIONS = 10_000_000  # a hash line claiming more is refused: one login must not pin a core for minutes
TEXT_HIDDEN = "Conversation text is visible to supervisors, data stewards and admins."
QUARANTINE_HIDDEN = "Quarantined records are visible to data stewards and admins; here: where and why."

_USER_KEY = "auth_user"
_ROLE_KEY = "auth_role"
# Compared against when the user name is unknown, so a wrong name costs as long as a wrong password
# (the answer time does not tell which user names exist).
_DUMMY_HASH = f"{SCHEME}${DEFAULT_ITERATIONS}${'00' * 16}${'00' * 32}"


class AccessError(ValueError):
    """The access file cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


def hash_password(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` for a password (a fresh 16-byte salt by default)."""
    if not isinstance(password, str) or password == "":
        raise ValueError("the password must be a non-empty string")
    if not 1 <= int(iterations) <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between 1 and {MAX_ITERATIONS}")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(iterations))
    return f"{SCHEME}${int(iterations)}${salt.hex()}${digest.hex()}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """Iterations, salt and digest of a hash line; AccessError when it is not one this module writes."""
    parts = encoded.split("$") if isinstance(encoded, str) else []
    if len(parts) != 4 or parts[0] != SCHEME:
        raise AccessError(f"password_hash must look like {SCHEME}$<iterations>$<salt hex>$<hash hex>")
    try:
        iterations = int(parts[1])
        salt, digest = bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
    except ValueError as exc:
        raise AccessError("password_hash has a non-numeric iteration count or non-hex salt/hash") from exc
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise AccessError(f"password_hash iterations must be between 1 and {MAX_ITERATIONS}")
    if not salt or len(digest) != 32:
        raise AccessError("password_hash needs a salt and a 32-byte (64 hex characters) SHA-256 hash")
    return iterations, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True only when ``password`` hashes to ``encoded``; any malformed input is simply False."""
    try:
        iterations, salt, expected = parse_hash(encoded)
    except AccessError:
        return False
    if not isinstance(password, str):
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


def load_access(path: Path | str) -> dict[str, User]:
    """Every user of the access file, validated; AccessError names the first problem found."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise AccessError(f"access file {path} does not exist") from exc
    except OSError as exc:
        raise AccessError(f"access file {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccessError(f"access file {path} is not valid TOML: {exc}") from exc
    table = data.get("users")
    if not isinstance(table, dict) or not table:
        raise AccessError(f"access file {path} has no [users.<name>] tables")
    users: dict[str, User] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise AccessError(f"users.{name} must be a table with role and password_hash")
        role = entry.get("role")
        if role not in ROLES:
            raise AccessError(f"users.{name}.role must be one of {', '.join(ROLES)} (got {role!r})")
        encoded = entry.get("password_hash")
        try:
            parse_hash(encoded)
        except AccessError as exc:
            raise AccessError(f"users.{name}: {exc}") from exc
        users[name] = User(name, role, encoded)
    return users


def auth_file() -> Path | None:
    """The configured access file, or None when the dashboards run without login."""
    raw = get_settings().auth_file.strip()
    return Path(raw).expanduser() if raw else None


def authenticate(users: dict[str, User], username: str, password: str) -> User | None:
    """The user when name and password match; the same work is done for an unknown name."""
    user = users.get((username or "").strip())
    ok = verify_password(password or "", user.password_hash if user else _DUMMY_HASH)
    return user if ok and user is not None else None


def _log_out() -> None:
    """Forget the user and everything the session kept (filters, picks): the next person starts clean."""
    if st.session_state.get(_USER_KEY):
        audit.record("sign_out", st.session_state[_USER_KEY])
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def login_gate() -> None:
    """Let the script go on only for a signed-in user (or always, when no access file is set).

    The file is read on every run, so removing a user or changing a role applies at that user's
    next click, not only at the next login.
    """
    path = auth_file()
    if path is None:
        return
    try:
        users = load_access(path)
    except AccessError as exc:
        if _USER_KEY in st.session_state:
            _log_out()
        st.error(f"Sign-in is required but the access file cannot be used: {exc}. "
                 "Fix the file named by SI_AUTH_FILE (see dashboards/access.example.toml).",
                 icon=":material/lock:")
        st.stop()
    name = st.session_state.get(_USER_KEY)
    user = users.get(name) if name else None
    if user is not None:
        if st.session_state.get(_ROLE_KEY) not in (None, user.role):  # the access file changed the role
            audit.record("role_change", user.name, before=st.session_state.get(_ROLE_KEY), after=user.role)
        st.session_state[_ROLE_KEY] = user.role
        st.sidebar.caption(f"Signed in as **{user.name}** ({user.role})")
        if st.sidebar.button("Log out", key="auth_logout", icon=":material/logout:"):
            _log_out()
            st.rerun()
        return
    if name is not None:  # signed in, but since removed from the file
        _log_out()
    st.title("Service Insight")
    with st.form("auth_login"):
        username = st.text_input("User name", key="auth_username")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        outcome, found = sign_in(users, username, password)
        if found is None:
            st.error(outcome, icon=":material/error:")
        else:
            st.session_state[_USER_KEY] = found.name
            st.session_state[_ROLE_KEY] = found.role
            st.rerun()
    st.stop()


def sign_in(users: dict[str, User], username: str, password: str) -> tuple[str, User | None]:
    """(message, user): the password is checked only when the user name is not backing off; every
    attempt is audited. Throttled by user name, so guessing one account's password slows down to
    minutes per try after a few failures while other users sign in as usual."""
    name = (username or "").strip()[:200]
    wait = audit.throttle_for(name)
    if wait.wait_seconds > 0:
        audit.record("sign_in_throttled", name, failures=wait.failures, wait_seconds=round(wait.wait_seconds, 1))
        return (f"Too many failed sign-ins for this user name: try again in {math.ceil(wait.wait_seconds)} s.",
                None)
    found = authenticate(users, name, password)
    if found is None:
        audit.record("sign_in_failed", name, failures=wait.failures + 1)
        return "Unknown user name or wrong password.", None
    audit.record("sign_in", found.name, role=found.role)
    return "", found


def can_see_text() -> bool:
    """True when conversation text may be shown: no login configured, or a role in TEXT_ROLES signed in."""
    return has_role(TEXT_ROLES)


def has_role(roles: tuple[str, ...]) -> bool:
    """True with no login configured (everything visible, as documented), else when the user's role is in ``roles``."""
    if auth_file() is None:
        return True
    return st.session_state.get(_ROLE_KEY) in roles


def current_user() -> str:
    """The signed-in user's name ("" without login): what the audit log records."""
    return st.session_state.get(_USER_KEY) or ""


def text_allowed_or_notice() -> bool:
    """can_see_text(); when False, shows the notice that takes the text's place."""
    if can_see_text():
        return True
    st.info(TEXT_HIDDEN, icon=":material/lock:")
    return False


def _read_new_password() -> str:
    if not sys.stdin.isatty():  # piped: `printf %s "$PW" | python -m dashboards.access hash`
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise ValueError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    """``hash``: print a password_hash line; ``check FILE``: validate an access file."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash"] and len(args) == 1:
        try:
            print(f'password_hash = "{hash_password(_read_new_password())}"')
        except (ValueError, EOFError, KeyboardInterrupt) as exc:
            print(f"error: {exc or 'no password given'}", file=sys.stderr)
            return 1
        return 0
    if args[:1] == ["check"] and len(args) == 2:
        try:
            users = load_access(args[1])
        except AccessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for user in users.values():
            print(f"{user.name}: {user.role}")
        return 0
    print("usage: python -m dashboards.access hash | check FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
