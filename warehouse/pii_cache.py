"""Masked texts kept between builds, so a rebuild runs the recognisers only on texts it has not seen.

Why: ``stg_raw__turns`` is rebuilt from the whole of ``raw.turns`` at every build, and the recognisers
(the name model most of all) were a fixed cost of every rebuild that grew with the history: about 13 s
of CPU per rebuild of the 2,000-conversation sample, the same again the next day with one new file.

What is stored, and why that is safe: for each distinct text, its masked form (what staging holds
anyway) under a keyed hash of the raw text: HMAC-SHA256 with the data folder's PII key over the
recognisers' version and the text. The raw text is never stored; without the key the hashes cannot be
tested against guesses. The file's name carries a fingerprint of the key, so after
``service-insight rotate-pii-key`` the old file is deleted and every text is masked again.

When a stored mask is not reused: a different recogniser version (:func:`recogniser_version`: the
code of the recognisers, the name models configured in ``SI_PII_NER`` and their package versions,
``SI_PII_ALLOW``, the year, which bounds birth dates), a different key, ``SI_RESULT_CACHE=0``.
Entries no build has read for :data:`KEEP_DAYS` days (texts gone from the raw tables) are removed.
Any trouble with the file (a full or read-only disk, a damaged database) costs masking again, never the build.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

KEEP_DAYS = 7
_CHUNK = 500  # keys per lookup (under SQLite's bound-parameter limit)
_SOURCES = ("warehouse.pii", "warehouse.pii_ner", "ml.language")
_PACKAGES = ("spacy", "py3langid")


def recogniser_version(name_model: bool) -> str:
    """A fingerprint of everything a masked text depends on besides the text itself."""
    import importlib
    from importlib.metadata import PackageNotFoundError, version

    from warehouse import pii, pii_ner

    digest = hashlib.sha256(f"name_model={name_model}\0year={date.today().year}\0".encode())
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + Path(importlib.import_module(name).__file__).read_bytes() + b"\0")

    def package(name: str) -> str:
        try:
            return version(name.replace("_", "-"))
        except PackageNotFoundError:
            path = Path(name)
            if path.exists():  # a pipeline folder: changed when its files change
                stamps = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                                for p in path.rglob("*") if p.is_file())
                return hashlib.sha256(repr(stamps).encode()).hexdigest()
            return "absent"

    for name in _PACKAGES:
        digest.update(f"{name}=={package(name)}\0".encode())
    if name_model:
        for language, pipeline in sorted(pii_ner.configured().items()):
            digest.update(f"{language}={pipeline}=={package(pipeline)}\0".encode())
    digest.update(repr(sorted(pii.allowed_values())).encode())
    return digest.hexdigest()[:32]


class MaskStore:
    """One SQLite file of (keyed hash of a text -> its masked form, last day it was read)."""

    def __init__(self, path: Path, key: bytes):
        self.path = path
        self._key = key
        self._lock = threading.Lock()  # dbt runs models on several threads of one process
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)  # owner-only from its first byte, not chmod-ed after SQLite made it
        os.chmod(path, 0o600)  # a file from before (or a umask that widened the mode)
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("create table if not exists masks (key blob primary key, masked text not null, "
                           "used integer not null)")
        today = self._today()
        self._conn.execute("delete from masks where used < ?", (today - KEEP_DAYS,))

    @staticmethod
    def _today() -> int:
        return int(time.time() // 86400)

    def keys(self, version: str, texts: Sequence[str]) -> list[bytes]:
        prefix = version.encode() + b"\0"
        return [hmac.new(self._key, prefix + t.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
                for t in texts]

    def get(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        today = self._today()
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                chunk = list(keys[i:i + _CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(self._conn.execute(f"select key, masked from masks where key in ({marks})",
                                                chunk).fetchall())
                self._conn.execute(f"update masks set used = ? where used < ? and key in ({marks})",
                                   [today, today, *chunk])
        return found

    def put(self, pairs: Sequence[tuple[bytes, str]]) -> None:
        today = self._today()
        with self._lock:
            self._conn.execute("begin")
            self._conn.executemany("insert or replace into masks values (?, ?, ?)",
                                   [(k, m, today) for k, m in pairs])
            self._conn.execute("commit")


_stores: dict[tuple[str, str], MaskStore | None] = {}
_versions: dict[tuple, str] = {}
_guard = threading.Lock()


def _store() -> MaskStore | None:
    """The data folder's store for the current key, or None (cache off, or the file cannot be used)."""
    from service_insight.settings import get_settings

    settings = get_settings()
    if not settings.result_cache:
        return None
    key = settings.pii_key()
    key_id = hashlib.sha256(b"pii-mask-cache\0" + key.encode()).hexdigest()[:16]
    folder = settings.data_dir / "cache" / "pii_masks"
    slot = (str(folder), key_id)
    with _guard:
        if slot not in _stores:
            try:
                for old in folder.glob("masks-*.sqlite*"):  # written under an earlier key: useless now
                    if key_id not in old.name:
                        old.unlink(missing_ok=True)
                _stores[slot] = MaskStore(folder / f"masks-{key_id}.sqlite", key.encode())
            except (OSError, sqlite3.Error) as exc:
                log.warning("masked-text cache unavailable (%s): every text is masked afresh", exc)
                _stores[slot] = None
        return _stores[slot]


def _version(name_model: bool) -> str:
    """:func:`recogniser_version`, hashed once per process for the same settings (it reads source files)."""
    from warehouse import pii, pii_ner

    slot = (name_model, repr(sorted(pii_ner.configured().items())), repr(sorted(pii.allowed_values())),
            date.today().year)
    with _guard:
        if slot not in _versions:
            _versions[slot] = recogniser_version(name_model)
        return _versions[slot]


def mask_many(texts: list[str | None], name_model: bool = True) -> list[str | None]:
    """:func:`warehouse.pii.mask_many`, with the masks of texts seen by an earlier build reused."""
    from warehouse import pii

    store = _store()
    unique = list(dict.fromkeys(t for t in texts if t))
    if store is None or not unique:
        return pii.mask_many(texts, name_model=name_model)
    try:
        keys = store.keys(_version(name_model), unique)
        found = store.get(keys)
    except sqlite3.Error as exc:
        log.warning("masked-text cache unreadable (%s): masking afresh", exc)
        return pii.mask_many(texts, name_model=name_model)
    masked = {t: found[k] for t, k in zip(unique, keys) if k in found}
    missing = [(t, k) for t, k in zip(unique, keys) if k not in found]
    if missing:
        fresh = pii.mask_many([t for t, _ in missing], name_model=name_model)
        masked.update((t, m) for (t, _), m in zip(missing, fresh))
        try:
            store.put([(k, m) for (_, k), m in zip(missing, fresh)])
        except sqlite3.Error as exc:  # a full or read-only disk: next build masks these again
            log.warning("masked-text cache not written (%s)", exc)
    return [None if t is None else masked.get(t, t) for t in texts]
