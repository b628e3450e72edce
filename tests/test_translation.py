"""Language identification and translation: real tiny models, a real warehouse file, no mocks.

The models here are trained for a few hundred steps on a handful of sentences, small enough to
memorise them: what is checked is the machinery (tags, tokenizer, saving, loading, incremental
writes), with real output strings.
"""

from __future__ import annotations

import os
from unittest import mock
from pathlib import Path

import duckdb
import pytest

from ml.language import detect_language, detect_languages
from ml.translation import (
    Pair, TranslationConfig, evaluate_translations, language_code, load_translation_model, read_tatoeba,
    target_prefix, train_if_parallel_data_changed, train_translation_model, translate, translate_new_turns,
    translation_memory_split,
)
from warehouse.db import writer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TATOEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tatoeba_cmn_en"

SEGMENTS = {  # seg-14 hashes into the held-out tenth: an evaluation sentence, never trained on
    "seg-01": {"en": "Where is my order?", "zh": "我的订单在哪里？", "es": "¿Dónde está mi pedido?"},
    "seg-02": {"en": "I want a refund.", "zh": "我想要退款。", "es": "Quiero un reembolso."},
    "seg-03": {"en": "Thank you for your help.", "zh": "谢谢你的帮助。", "es": "Gracias por su ayuda."},
    "seg-04": {"en": "I forgot my password.", "zh": "我忘记密码了。", "es": "Olvidé mi contraseña."},
    "seg-05": {"en": "The parcel has not arrived.", "zh": "包裹还没有到。", "es": "El paquete no ha llegado."},
    "seg-06": {"en": "Please change my address.", "zh": "请修改我的地址。", "es": "Por favor cambie mi dirección."},
    "seg-07": {"en": "Can I cancel the order?", "zh": "我可以取消订单吗？", "es": "¿Puedo cancelar el pedido?"},
    "seg-08": {"en": "The item is broken.", "zh": "商品坏了。", "es": "El artículo está roto."},
    "seg-14": {"en": "The delivery is late.", "zh": "快递晚了。", "es": "La entrega llega tarde."},
}

TURNS = [  # conversation_id, turn_index, speaker, text
    ("c1", 0, "customer", "我的订单在哪里？"),
    ("c1", 1, "agent", "Let me check that for you."),
    ("c1", 2, "customer", "Quiero un reembolso."),
    ("c2", 0, "customer", "我想要退款。"),
    ("c2", 1, "customer", "ok"),
    ("c2", 2, "customer", "我的订单在哪里？"),
]

# Memorises a few dozen pairs in a few hundred steps; steps, not seconds, end it (deterministic).
TINY = dict(d_model=64, encoder_layers=1, decoder_layers=1, heads=2, ffn_dim=128, vocab_size=300, batch_size=16,
            learning_rate=3e-3, warmup_steps=30, dropout=0.0, label_smoothing=0.0, max_steps=300, max_epochs=1000,
            max_seconds=600.0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One CPU thread for these tiny models: on a shared 2-core machine two threads are 10x slower."""
    from ml.translation import torch_threads

    with torch_threads(1):
        yield


def make_warehouse(path: Path, with_memory: bool = True) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema if not exists staging")
        conn.execute("create table staging.stg_raw__turns (conversation_id varchar, turn_index integer, "
                     "speaker varchar, ts timestamp, text varchar)")
        conn.executemany("insert into staging.stg_raw__turns values (?, ?, ?, timestamp '2026-10-01 09:00', ?)",
                         TURNS)
        if with_memory:
            conn.execute("create table staging.stg_raw__translation_memory "
                         "(segment_id varchar, language varchar, text varchar)")
            conn.executemany("insert into staging.stg_raw__translation_memory values (?, ?, ?)", [
                (seg, lang, text) for seg, texts in SEGMENTS.items() for lang, text in texts.items()])


def connector(path: Path):
    return lambda: writer(path)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The two Dagster assets materialised on a small warehouse file with a translation memory."""
    from dagster import DagsterInstance, materialize

    from orchestration.assets.translation import translation_assets
    from orchestration.resources import WarehouseResource

    root = tmp_path_factory.mktemp("translation")
    database = root / "warehouse.duckdb"
    make_warehouse(database)
    place = {"SI_WAREHOUSE_PATH": str(database), "SI_LANDING_DIR": str(root / "landing"),
             "SI_SNAPSHOT_DIR": str(root / "snapshots"), "SI_MODEL_DIR": str(root / "models"), "SI_DEVICE": "cpu"}
    with mock.patch.dict(os.environ, place):  # the resource reads the one settings object, as a deployment does
        result = materialize(translation_assets, resources={"warehouse": WarehouseResource()},
                             instance=DagsterInstance.ephemeral(),
                             run_config={"ops": {"ml__translation_model": {"config": TINY}}})
    assert result.success
    return database, root / "models", result


def test_language_id_on_the_five_service_languages():
    examples = {
        "zh": ["我的订单在哪里？", "好的", "请帮我查一下物流，订单号 [ORDER]"],
        "en": ["Where is my parcel? It has been two weeks.", "Thanks, bye"],
        "es": ["¿Dónde está mi pedido? Han pasado dos semanas.", "Gracias por su ayuda"],
        "fr": ["Où est ma commande ? Cela fait deux semaines.", "Merci pour votre aide"],
        "de": ["Wo ist meine Bestellung? Es sind schon zwei Wochen.", "Danke für Ihre Hilfe"],
    }
    for language, texts in examples.items():
        for text in texts:
            detected, confidence = detect_language(text)
            assert detected == language, (text, detected)
            assert 0.5 < confidence <= 1.0
    assert detect_language("[PHONE] 123") == ("und", 0.0)  # masked items and digits are not language
    assert detect_language("ok", min_confidence=0.5)[0] == "und"
    assert detect_languages(["好的", "Danke für Ihre Hilfe", "好的"]) == [
        detect_language("好的"), detect_language("Danke für Ihre Hilfe"), detect_language("好的")]


def test_the_trained_model_reproduces_its_training_sentences_in_every_direction(pipeline):
    database, models, _ = pipeline
    with writer(database) as conn:
        split = translation_memory_split(conn)
    assert {p.src_text for p in split.eval} == {"The delivery is late.", "快递晚了。", "La entrega llega tarde."}
    model_dir = next(p for p in (models / "translation").iterdir() if p.is_dir())
    for (src, tgt) in [("zh", "en"), ("en", "zh"), ("es", "en"), ("en", "es")]:
        pairs = [p for p in split.train if (p.src_lang, p.tgt_lang) == (src, tgt)]
        assert translate([p.src_text for p in pairs], src, tgt, model_dir) == [p.tgt_text for p in pairs]


def test_a_saved_model_loads_back_through_the_auto_classes(pipeline):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    _, models, _ = pipeline
    model_dir = next(p for p in (models / "translation").iterdir() if p.is_dir())
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    assert type(model).__name__ == "MarianMTModel"
    assert target_prefix(tokenizer, "en") == ">>en<< "
    encoded = tokenizer([">>en<< 我忘记密码了。"], return_tensors="pt")
    assert tokenizer.unk_token_id not in encoded["input_ids"][0].tolist()
    assert tokenizer.unk_token_id not in tokenizer("龘 never seen")["input_ids"]  # byte fallback, not <unk>
    assert tokenizer.decode(tokenizer("龘 never seen")["input_ids"], skip_special_tokens=True) == "龘 never seen"
    generated = model.generate(**encoded, max_length=30)
    assert tokenizer.batch_decode(generated, skip_special_tokens=True) == ["I forgot my password."]
    card = (model_dir / "training.json").read_text()
    assert '"steps": 300' in card and '"zh-en"' in card


def test_the_model_is_registered_with_its_quality_per_direction(pipeline):
    database, models, result = pipeline
    with writer(database) as conn:
        runs = conn.execute("select model_version, is_current, accuracy, config ->> 'trained_by' "
                            "from ml.ml_model_runs where task = 'translation'").fetchall()
        quality = conn.execute("select source_language || '-' || target_language, eval_pairs, chrf, usable "
                               "from ml.translation_quality order by 1").fetchall()
    assert len(runs) == 1 and runs[0][1] and runs[0][2] is None and runs[0][3] == "pipeline"
    assert (models / "translation" / "CURRENT").read_text() == runs[0][0]
    assert [q[0] for q in quality] == ["en-es", "en-zh", "es-en", "zh-en"]
    assert all(q[1] == 1 and q[3] == (q[2] >= 40.0) for q in quality)
    metadata = result.asset_materializations_for_node("ml__translation_model")[0].metadata
    assert metadata["status"].value == "trained" and "chrf_zh_en" in metadata
    again, facts = train_if_parallel_data_changed(connector(database), models, TranslationConfig(**TINY))
    assert again == "reused" and facts["model_version"] == runs[0][0]


def test_every_turn_is_translated_once_and_a_changed_text_again(pipeline):
    database, models, _ = pipeline
    with writer(database) as conn:
        rows = conn.execute("""
            select conversation_id, turn_index, source_language, translation, passed_through
            from ml.turn_translations order by all""").fetchall()
    assert rows == [
        ("c1", 0, "zh", "Where is my order?", False),
        ("c1", 1, "en", "Let me check that for you.", True),
        ("c1", 2, "es", "I want a refund.", False),
        ("c2", 0, "zh", "I want a refund.", False),
        ("c2", 1, "und", "ok", True),
        ("c2", 2, "zh", "Where is my order?", False),
    ]
    rerun = translate_new_turns(connector(database), models)
    assert rerun["turns"] == 0
    with writer(database) as conn:
        conn.execute("update staging.stg_raw__turns set text = '我忘记密码了。' where conversation_id = 'c2' "
                     "and turn_index = 0")
    changed = translate_new_turns(connector(database), models)
    assert changed["turns"] == 1 and changed["translated"] == 1
    with writer(database) as conn:
        assert conn.execute("select translation, count(*) over () from ml.turn_translations "
                            "where conversation_id = 'c2' and turn_index = 0").fetchall() == [
            ("I forgot my password.", 1)]


def test_identical_texts_are_translated_once(pipeline):
    _, models, _ = pipeline
    model_dir = next(p for p in (models / "translation").iterdir() if p.is_dir())
    texts = ["我想要退款。", "I want a refund.", "我想要退款。", "", None]
    out = translate(texts, ["zh", "en", "zh", "zh", "zh"], "en", model_dir)
    assert out == ["I want a refund.", "I want a refund.", "I want a refund.", "", ""]


def test_a_user_checkpoint_without_tags_is_used_as_it_is(tmp_path):
    """An opus-mt-style single-direction checkpoint: no >>xx<< tags in its vocabulary, none prepended."""
    zh_en = [Pair("zh", s["zh"], "en", s["en"]) for s in SEGMENTS.values()]
    checkpoint = tmp_path / "user-zh-en"
    train_translation_model(zh_en, checkpoint, cfg=TranslationConfig(**TINY), target_tags=False)
    tokenizer, _ = load_translation_model(checkpoint)
    assert target_prefix(tokenizer, "en") == "" and not any(t.startswith(">>") for t in tokenizer.get_vocab())

    database, models = tmp_path / "warehouse.duckdb", tmp_path / "models"
    make_warehouse(database, with_memory=False)  # no translation memory: nothing could be trained anyway
    status, facts = train_if_parallel_data_changed(connector(database), models, checkpoint=checkpoint)
    assert status == "user checkpoint registered"
    assert train_if_parallel_data_changed(connector(database), models, checkpoint=checkpoint)[0] == \
        "user checkpoint in use"
    assert not (models / "translation" / facts["model_version"] / "config.json").exists()  # nothing copied
    translate_new_turns(connector(database), models)
    with writer(database) as conn:
        rows = dict(((c, i), t) for c, i, t in conn.execute(
            "select conversation_id, turn_index, translation from ml.turn_translations").fetchall())
    assert rows[("c1", 0)] == "Where is my order?" and rows[("c2", 0)] == "I want a refund."
    assert rows[("c1", 1)] == "Let me check that for you."


def test_multilingual_checkpoint_conventions_are_read_from_the_vocabulary():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    def tokenizer_with(tokens):
        vocab = {"<unk>": 0, **{t: i + 1 for i, t in enumerate(tokens)}}
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                       unk_token="<unk>")

    nllb = tokenizer_with(["eng_Latn", "zho_Hans", "spa_Latn"])
    assert target_prefix(nllb, "zh") == "" and language_code(nllb, "zh") == "zho_Hans"
    opus = tokenizer_with([">>cmn_Hans<<", ">>fra<<"])
    assert target_prefix(opus, "zh") == ">>cmn_Hans<< " and target_prefix(opus, "fr") == ">>fra<< "
    assert language_code(opus, "zh") is None


def test_bleu_and_chrf_tell_a_perfect_translation_from_garbage():
    refs = ["Where is my order?", "I want a refund for the broken item.", "Thank you for your help."]
    perfect = evaluate_translations(refs, refs, "en")
    garbage = evaluate_translations(["banana " * 3, "the the the", "xyz"], refs, "en")
    assert perfect["bleu"] == 100.0 and perfect["chrf"] == 100.0 and perfect["pairs"] == 3
    assert garbage["bleu"] < 5 and garbage["chrf"] < 25
    zh_refs = ["我的订单在哪里？", "我想要退款。"]
    assert evaluate_translations(zh_refs, zh_refs, "zh")["bleu"] == 100.0
    half = evaluate_translations(["我的订单在这里。", "我要退货。"], zh_refs, "zh")
    assert 0 < half["chrf"] < 100


@pytest.mark.skipif(not TATOEBA.exists(), reason=f"Tatoeba English-Mandarin pairs not found at {TATOEBA}")
def test_the_tatoeba_split_is_deterministic_and_disjoint():
    train, test = read_tatoeba(TATOEBA, "train"), read_tatoeba(TATOEBA, "test")
    assert train == read_tatoeba(TATOEBA, "train") and test == read_tatoeba(TATOEBA, "test")
    assert len(train) + len(test) == len(read_tatoeba(TATOEBA, "all"))
    assert not {en for _, en, _ in train} & {en for _, en, _ in test}  # no English sentence on both sides
    assert 0.03 < len(test) / (len(train) + len(test)) < 0.07
    assert {lang for lang, _, _ in train} == {"zh"}
