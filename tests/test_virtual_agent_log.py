"""The virtual agent's contacts as landing files, its voice measurements and its brand file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pytest

from service_insight.brand import Brand, BrandError, load_brand
from warehouse.virtual_agent_log import Exchange, VirtualAgentContact, write_contact

T0 = datetime(2026, 11, 30, 23, 58, 30, tzinfo=timezone.utc)


def contact(**extra) -> VirtualAgentContact:
    spoken = {"duration_s": 2.4, "energy_db": -21.5, "pitch_mean_hz": 182.0, "pitch_var": 210.0,
              "speaking_rate_sps": 4.1}
    c = VirtualAgentContact("a1b2c3", "virtual_agent", [
        Exchange(T0, T0 + timedelta(seconds=2), "我的卡还没到，电话13812345678", "您的卡已寄出。", "zh", voice=spoken),
        Exchange(T0 + timedelta(seconds=40), T0 + timedelta(seconds=43), "我要人工", "好的，我马上为您转接人工客服。", "zh",
                 handed_over=True, reasons=("customer asks for a person", "intent uncertain")),
    ], **extra)
    return c


def test_a_contact_lands_in_every_source_it_touches_and_passes_the_contract(tmp_path):
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCE_BY_NAME

    landing = tmp_path / "landing"
    written = write_contact(landing, contact(csat=2))
    assert {p.parent.name for p in written} == {"conversations", "turns", "voice_features", "surveys", "customers"}
    assert write_contact(landing, contact(csat=2)) == []  # the same contact again writes nothing
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        for name in ("conversations", "turns", "voice_features", "surveys", "customers"):
            report = load_source(c, SOURCE_BY_NAME[name], landing)
            assert report.rows_quarantined == 0 and report.rows_loaded > 0, (name, report)
        header = c.execute("select conversation_id, channel, queue_id, disposition, transfer_count, handle_seconds, "
                           "first_response_seconds, customer_id from raw.conversations").fetchone()
        assert header == ("VA-20261130-a1b2c3", "phone", "virtual_agent", "escalated", 1, 43, 2, "va-a1b2c3")
        turns = c.execute("select speaker, text from raw.turns order by turn_index").fetchall()
        assert [s for s, _ in turns] == ["customer", "bot", "customer", "bot", "system"]
        assert turns[-1][1] == "[hand-over] customer asks for a person; intent uncertain"
        assert c.execute("select turn_index, pitch_mean_hz from raw.voice_features").fetchall() == [(0, 182.0)]
        assert c.execute("select csat from raw.surveys").fetchall() == [(2,)]


def test_a_contact_that_stays_with_the_bot_has_no_wrap_up_code_and_no_transfer(tmp_path):
    """Contained is not "resolved": the page cannot know that the answer solved it, so FCR does not count it."""
    import json

    only = contact()
    only.exchanges = only.exchanges[:1]
    only.exchanges[0].voice = None
    write_contact(tmp_path, only)
    header = json.loads(next((tmp_path / "conversations").glob("*.jsonl")).read_text())
    assert (header["channel"], header["disposition"], header["transfer_count"]) == ("chat", None, 0)
    assert not (tmp_path / "voice_features").exists() and not (tmp_path / "surveys").exists()


def test_prosody_reads_a_tone_s_pitch_level_and_length():
    from ml.speech import prosody, syllables

    rate = 16_000
    t = np.arange(int(1.5 * rate)) / rate
    tone = 0.25 * np.sin(2 * np.pi * 180 * t) + 0.08 * np.sin(2 * np.pi * 360 * t)
    features = prosody(tone, "where is my new card", "en", rate)
    assert features["duration_s"] == 1.5 and abs(features["pitch_mean_hz"] - 180) < 3
    assert -20 < features["energy_db"] < -14  # RMS of the two sines, in dB full scale
    assert features["speaking_rate_sps"] == round(syllables("where is my new card", "en") / 1.5, 2)
    quiet = prosody(np.random.default_rng(1).normal(0, 1e-5, rate))
    assert quiet["pitch_mean_hz"] is None and quiet["energy_db"] < -90  # no voice: no pitch invented
    assert syllables("我的卡还没到", "zh") == 6 and syllables("card arrived", "en") == 3


def test_the_brand_file_sets_name_colours_and_words_and_a_wrong_one_is_refused(tmp_path):
    assert load_brand(tmp_path / "absent.toml") == Brand()
    path = tmp_path / "brand.toml"
    path.write_text('name = "Aria"\ncolour = "#d0021b"\n[face]\nhair = ""\n'
                    '[greeting]\nen = "Hi, I\'m Aria."\nzh = "您好，我是Aria。"\n', encoding="utf-8")
    brand = load_brand(path)
    assert (brand.name, brand.colour, brand.hair, brand.skin) == ("Aria", "#d0021b", "", Brand().skin)
    assert brand.words("greeting", "zh") == ("您好，我是Aria。", "zh")
    assert brand.words("greeting", "fr") == ("Hi, I'm Aria.", "en")  # no French words: English
    assert brand.words("handover", "zh")[1] == "zh"  # the default hand-over words stay
    for text, why in (('colour = "red"', "colour must be a colour"), ('logo = "x.png"', "unknown key(s) logo"),
                      ('name = ""', "name must be"), ("[greeting]\nen = 3", "[greeting] maps languages"),
                      ("name = ", "not a readable TOML")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(BrandError, match=__import__("re").escape(why)):
            load_brand(path)


def test_the_avatar_wears_the_brand_and_the_customer_s_mood():
    from dashboards.avatar import avatar_html

    brand = Brand(name="Aria <b>", colour="#d0021b", hair="")
    calm = avatar_html(b"RIFF", [(0.0, 0.1, "closed")], brand)
    upset = avatar_html(b"RIFF", [(0.0, 0.1, "closed")], brand, mood="concerned")
    assert "Aria &lt;b&gt;" in calm and "#d0021b" in calm and 'data-mood="calm"' in calm
    assert 'data-mood="concerned"' in upset and "M70 74 L92 80" in upset
    assert "M32 92" not in calm and "M32 92" in avatar_html(b"RIFF", [], Brand())  # hair only when the brand has it


def test_the_live_voice_reading_is_the_one_the_build_computes_from_the_landed_call(tmp_path):
    """The virtual agent hands the emotion model what VOICE_FEATURES_SQL computes for the same call after a build."""
    from ml.emotion import VOICE_COLUMNS, VOICE_FEATURES_SQL, live_voice_features

    c = contact()
    second = dict(c.exchanges[0].voice, pitch_mean_hz=230.0, pitch_var=400.0)
    c.exchanges[1].voice = second
    write_contact(tmp_path / "landing", c)
    with duckdb.connect() as conn:
        conn.execute("create schema staging")
        conn.execute("create table staging.stg_raw__voice_features as select * from read_parquet(?)",
                     [str(next((tmp_path / "landing" / "voice_features").glob("*.parquet")))])
        built = conn.execute(f"select * from ({VOICE_FEATURES_SQL}) order by turn_index").fetchall()
    pitches = [e.voice["pitch_mean_hz"] for e in c.exchanges]
    live = [live_voice_features(e.voice, pitches) for e in c.exchanges]
    assert len(built) == 2
    for row, reading in zip(built, live):
        assert np.allclose(row[2:], [reading[k] for k in VOICE_COLUMNS])
    assert live[1]["pitch_rise"] > 1.2 and live_voice_features({"energy_db": -20.0}, [180.0]) is None
