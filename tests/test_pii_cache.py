"""Masks kept between builds: the same answer as masking afresh, the recognisers run once per text, no raw
text on disk, nothing reused across keys or recogniser settings, and a broken cache never stops masking."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import point_settings_at
from warehouse import pii, pii_cache

TEXTS = ["My name is Ada Lovelace, call +1 415-555-0199", None, "", "Thanks, one moment please.",
         "身份证110101199001011234，电话13812345678", "My name is Ada Lovelace, call +1 415-555-0199",
         "Kevin said he would call back about order O00001234"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    for name in ("SI_RESULT_CACHE", "SI_PII_KEY", "SI_PII_ALLOW"):
        monkeypatch.delenv(name, raising=False)
    point_settings_at(tmp_path)
    return tmp_path


@pytest.fixture
def recognised(monkeypatch):
    """The texts the recognisers really ran on, call by call."""
    calls: list[list[str]] = []
    real = pii.mask_many

    def counting(texts, name_model=True):
        calls.append([t for t in texts if t])
        return real(texts, name_model=name_model)

    monkeypatch.setattr(pii, "mask_many", counting)
    return calls


def _store_files(data_dir):
    return sorted((data_dir / "cache" / "pii_masks").glob("masks-*.sqlite"))


def test_masks_are_reused_and_equal_masking_afresh(data_dir, recognised):
    expected = pii.mask_many(TEXTS)
    recognised.clear()
    assert pii_cache.mask_many(TEXTS) == expected
    assert "[PHONE]" in expected[0] and expected[1] is None and expected[2] == ""
    assert sorted(recognised[0]) == sorted(set(t for t in TEXTS if t))  # each distinct text once
    recognised.clear()
    assert pii_cache.mask_many(list(reversed(TEXTS))) == list(reversed(expected))
    assert recognised == []  # every text came from the store
    new = "Please call me on 13912345678"
    assert pii_cache.mask_many([TEXTS[0], new]) == [expected[0], pii.mask_many([new])[0]]
    assert recognised[0] == [new]  # only the new text reached the recognisers


def test_the_store_holds_no_raw_text(data_dir):
    pii_cache.mask_many(TEXTS)
    (store,) = _store_files(data_dir)
    raw = b"".join(p.read_bytes() for p in store.parent.glob("masks-*"))
    for secret in ("415-555-0199", "Lovelace", "13812345678", "110101199001011234", "Kevin"):
        assert secret.encode() not in raw, secret
    assert store.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_a_new_key_or_new_recogniser_settings_mask_afresh(data_dir, recognised, monkeypatch):
    pii_cache.mask_many(TEXTS)
    (first,) = _store_files(data_dir)
    recognised.clear()
    # Rotating the key: the old file goes, every text is masked again under the new key.
    monkeypatch.setenv("SI_PII_KEY", "a-new-key")
    pii_cache.mask_many(TEXTS)
    assert recognised and not first.exists() and len(_store_files(data_dir)) == 1
    recognised.clear()
    # A company allow-listing its own hotline: the stored mask of that text no longer applies.
    monkeypatch.setenv("SI_PII_ALLOW", "+1 415-555-0199")
    masked = pii_cache.mask_many([TEXTS[0]])
    assert recognised == [[TEXTS[0]]] and masked == pii.mask_many([TEXTS[0]])
    assert "415-555-0199" in masked[0] and "Lovelace" not in masked[0]


def test_cache_off_or_unusable_still_masks(data_dir, recognised, monkeypatch):
    monkeypatch.setenv("SI_RESULT_CACHE", "0")
    assert pii_cache.mask_many(TEXTS) == pii.mask_many(TEXTS)
    assert _store_files(data_dir) == []
    monkeypatch.delenv("SI_RESULT_CACHE")
    (data_dir / "cache").mkdir()
    (data_dir / "cache" / "pii_masks").write_text("a file where the folder should be")
    assert pii_cache.mask_many(TEXTS) == pii.mask_many(TEXTS)
    # A damaged database file: reads fail, masking goes on.
    other = data_dir / "other"
    point_settings_at(other)
    pii_cache.mask_many(TEXTS[:1])
    (store,) = _store_files(other)
    with sqlite3.connect(store) as conn:
        conn.execute("drop table masks")
    assert pii_cache.mask_many(TEXTS) == pii.mask_many(TEXTS)
