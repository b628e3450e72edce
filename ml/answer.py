"""The live answer engine: one customer message in, everything an agent needs out.

Why a plain Python API: the agent page calls it, and so can a chat widget, a test or a bench,
without Streamlit. It reads only the published snapshot (read-only, never the writer's file) and
the current model directories, so it keeps answering while a build runs. Models load once per
engine; build one engine per process (the page keeps it in ``st.cache_resource``).

For a message it returns: the language and a translation into the pivot language (or, where the
translation model is not good enough for that language, a note that retrieval works on
cross-lingual embeddings instead); the intent and its confidence, from whichever path scored
better on reviewed contacts (the trained classifier or the embedding prototypes); the emotion,
fused with a call's voice features when given; knowledge-base answers by embedding retrieval and
by the knowledge graph's product -> issue -> article -> policy path, each with its source; a
suggested reply in the customer's language; whether to hand over to a human and why; and a
cross-sell offer for the customer when the value mart has one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from ml.classifier import model_labels, predict, warm_up
from ml.embeddings import DEFAULT_ENGINE, MicroBatcher, get_embedder
from ml.emotion import VOICE_COLUMNS, VoiceHead
from ml.knowledge_graph import answer_path
from ml.language import detect_language
from ml.registry import current_model_dir
from warehouse.pii import mask

NEGATIVE_EMOTIONS = ("angry", "anxious")
# Softmax temperature over cosine similarities when the build could not fit one (no reviewed
# contacts held out): e5 similarities sit in a narrow band, so hundredths must count.
DEFAULT_TEMPERATURE = 50.0
# Words that ask for a person; any of them escalates whatever the models say.
HUMAN_REQUEST = re.compile(r"(?i)\b(human|real person|supervisor|manager|agent please)\b|人工|真人|主管|投诉")

# Nothing a customer types reaches a model unmasked: the same recognisers as staging (the dbt
# macro mask_pii calls warehouse.pii.mask through the DuckDB function si_mask_pii).
mask_pii = mask


@dataclass
class PrototypePath:
    """One embedding path to an intent: centroids, held-out accuracy and its calibration."""

    names: list[str]
    matrix: np.ndarray
    accuracy: float | None
    temperature: float
    escalate_below: float | None


@dataclass
class KnowledgeAnswer:
    article_id: str
    title: str
    text: str
    language: str
    intent: str
    score: float
    source: str  # "knowledge base retrieval" or "knowledge graph: product -> issue -> article -> policy"
    policy: str | None = None


@dataclass
class AnswerResult:
    text: str  # the message as the models saw it (personal data masked)
    language: str
    language_confidence: float
    translation: str | None  # into the pivot language; None when not needed or not good enough
    translation_note: str
    intent: str | None
    intent_confidence: float
    intent_source: str
    top_intents: list[tuple[str, float]]
    emotion: str | None
    emotion_confidence: float
    emotion_source: str
    answers: list[KnowledgeAnswer]
    suggested_reply: str | None
    reply_language: str | None
    escalate: bool
    escalate_reasons: list[str]
    cross_sell: dict | None
    products: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Replies agents gave to the nearest past resolved questions (marts.dim_resolved_answers), best first.
    past_answers: list[KnowledgeAnswer] = field(default_factory=list)
    reply_source: str | None = None  # where the suggested reply comes from, for the agent to check

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnswerEngine:
    """Loads the snapshot's knowledge base, prototypes and the current models once; answers many messages."""

    def __init__(self, snapshot_path: Path, model_root: Path, embedding_model: str = DEFAULT_ENGINE,
                 pivot: str = "en", device: str = "cpu", min_intent_confidence: float = 0.5,
                 min_negative_confidence: float = 0.6, min_past_similarity: float = 0.94) -> None:
        self.snapshot_path, self.model_root, self.pivot, self.device = Path(snapshot_path), Path(model_root), pivot, device
        self.min_intent_confidence, self.min_negative_confidence = min_intent_confidence, min_negative_confidence
        self.min_past_similarity = min_past_similarity
        self._conn = duckdb.connect(str(self.snapshot_path), read_only=True)
        self._lock = threading.Lock()  # one DuckDB cursor at a time per engine; models are read-only
        # Concurrent agents' messages share encoder calls (bench/answer_latency.py measures the gain).
        self.embedder = MicroBatcher(get_embedder(embedding_model, device))
        self.passages = self._frame("""select passage_id, article_id, passage_index, language, intent, article_title,
                                              policy_name, text, embedding
                                       from marts.dim_kb_passages order by passage_id""")
        self.passage_matrix = self._matrix(self.passages)
        self._index_articles()
        self.past = self._frame("""select conversation_id, resolution_evidence, question, answer, answer_language,
                                          intent, embedding
                                   from marts.dim_resolved_answers order by conversation_id""") \
            if self._has_table("dim_resolved_answers") else self.passages.iloc[0:0]
        self.past_matrix = self._matrix(self.past)
        protos = self._frame("""select intent, method, accuracy, temperature, escalate_below, embedding
                                from marts.dim_intent_prototypes order by method, intent""")
        self.prototypes = {}
        for method in ("few-shot", "zero-shot"):
            rows = protos[protos["method"] == method] if not protos.empty else protos
            if not rows.empty:
                self.prototypes[method] = PrototypePath(
                    rows["intent"].tolist(), self._matrix(rows), _first(rows["accuracy"]),
                    _first(rows["temperature"]) or DEFAULT_TEMPERATURE, _first(rows["escalate_below"]))
        self.intent_dir = current_model_dir(self.model_root, "intent")
        self.intent_meta = _training_meta(self.intent_dir)
        self.emotion_dir = current_model_dir(self.model_root, "emotion")
        self.voice_head = VoiceHead.load(self.emotion_dir) if self.emotion_dir else None
        for model_dir in (self.intent_dir, self.emotion_dir):
            if model_dir:
                warm_up(model_dir, device)
        self.usable_translation = self._usable_translation()
        self.translation_dir = current_model_dir(self.model_root, "translation")
        self.has_cross_sell = self._has_table("fct_cross_sell_opportunities")
        self.has_graph = self._has_table("kg_nodes")
        # The product names a message may name, matched in memory (one query per word was 16 ms a message).
        self._products = self._product_patterns() if self.has_graph else []
        detect_language("warm up the language identifier")  # its model loads on first use (about 2 s)

    # ------------------------------------------------------------------ snapshot access

    def _frame(self, sql: str, params: list | None = None):
        with self._lock:
            cursor = self._conn.cursor()
            try:
                return cursor.execute(sql, params or []).df()
            finally:
                cursor.close()

    def _has_table(self, name: str) -> bool:
        df = self._frame("select count(*) as n from information_schema.tables where table_schema = 'marts' "
                         "and table_name = ?", [name])
        return int(df.iloc[0]["n"]) > 0

    def _index_articles(self) -> None:
        """Articles by intent and language, their steps and policy, looked up per message without pandas.

        Why: filtering the passages frame for every message cost more than encoding it (18 ms of a
        40 ms answer) and held the interpreter, so concurrent agents waited on each other.
        """
        self._passage_intents = self.passages["intent"].tolist()
        self._articles: dict[str | None, dict[str, tuple[str, str, str]]] = {}
        self._policies: dict[str, str] = {}
        steps: dict[str, list[tuple[int, str]]] = {}
        for row in self.passages.itertuples():  # in passage_id order: the first row of a kind wins, as before
            self._policies.setdefault(row.article_id, row.policy_name)
            if row.passage_index == 0:
                self._articles.setdefault(row.intent, {}).setdefault(
                    row.language, (row.article_id, row.article_title, row.language))
            else:
                steps.setdefault(row.article_id, []).append((row.passage_index, row.text))
        self._steps = {article: "\n".join(text for _, text in sorted(parts, key=lambda p: p[0]))
                       for article, parts in steps.items()}

    @staticmethod
    def _matrix(frame) -> np.ndarray:
        if frame.empty:
            return np.zeros((0, 1), dtype=np.float32)
        return np.vstack([np.asarray(v, dtype=np.float32) for v in frame["embedding"]])

    def _usable_translation(self) -> set[str]:
        if not self._has_table("fct_translation_quality"):
            return set()
        df = self._frame("select * from marts.fct_translation_quality")
        if df.empty or "usable" not in df:
            return set()
        rows = df[(df["target_language"] == self.pivot) & df["usable"].fillna(False).astype(bool)]
        return set(rows["source_language"])

    # ------------------------------------------------------------------ the steps

    def _intent(self, text: str, query: np.ndarray) -> tuple[str | None, float, float, str, list[tuple[str, float]]]:
        """(intent, confidence, escalate-below, source, top 3) from the path with the better held-out accuracy:
        the trained classifier or the few-shot (else zero-shot) prototypes."""
        metrics = self.intent_meta.get("metrics", {})
        classifier_accuracy = float(metrics.get("accuracy") or 0.0)
        path = self.prototypes.get("few-shot") or self.prototypes.get("zero-shot")
        method = "few-shot" if "few-shot" in self.prototypes else "zero-shot"
        if self.intent_dir and (path is None or classifier_accuracy >= (path.accuracy or 0.0)):
            labels, confidence, probs = predict(self.intent_dir, [text], device=self.device)
            model_labels = self.intent_meta.get("labels") or []
            order = np.argsort(-probs[0])[:3]
            top = [(model_labels[i] if i < len(model_labels) else labels[0], round(float(probs[0][i]), 4))
                   for i in order]
            threshold = metrics.get("escalate_below")
            return (labels[0], float(confidence[0]), float(threshold if threshold is not None else self.min_intent_confidence),
                    f"trained classifier ({self.intent_meta.get('config', {}).get('chosen') or 'checkpoint'}, "
                    f"held-out accuracy {classifier_accuracy:.0%})", top)
        if path is None:
            return None, 0.0, 1.0, "no intent model or knowledge base in this snapshot", []
        sims = path.matrix @ query
        p = np.exp((sims - sims.max()) * path.temperature)
        p /= p.sum()
        order = np.argsort(-p)[:3]
        accuracy = f"held-out accuracy {path.accuracy:.0%}" if path.accuracy is not None else "not evaluated"
        # A path never checked against reviewed contacts has no bar it could be trusted above: it always escalates
        # (with two intents in the taxonomy any softmax passes 50%), as the conversation mart marks it.
        threshold = (path.escalate_below if path.escalate_below is not None
                     else self.min_intent_confidence if path.accuracy is not None else 1.01)
        return (path.names[order[0]], float(p[order[0]]), float(threshold), f"{method} embeddings ({accuracy})",
                [(path.names[i], round(float(p[i]), 4)) for i in order])

    def _emotion(self, text: str, voice: dict[str, float] | None) -> tuple[str | None, float, str, float]:
        """(emotion, its probability, source, probability that the customer is upset: every negative emotion).

        Why the upset share: "angry 55%, anxious 30%" is a customer to hand to a person although
        neither emotion alone passes the bar; the calibrated probabilities of the negative emotions add up.
        """
        if not self.emotion_dir:
            return None, 0.0, "no emotion model in this snapshot", 0.0
        labels, confidence, probs = predict(self.emotion_dir, [text], device=self.device)
        if voice and self.voice_head and all(k in voice for k in VOICE_COLUMNS):
            fused = self.voice_head.fuse(probs, np.array([[float(voice[k]) for k in VOICE_COLUMNS]]))[0]
            best = int(np.argmax(fused))
            upset = sum(float(p) for name, p in zip(self.voice_head.labels, fused) if name in NEGATIVE_EMOTIONS)
            return self.voice_head.labels[best], float(fused[best]), "text + voice (multimodal head)", upset
        upset = sum(float(p) for name, p in zip(model_labels(self.emotion_dir), probs[0]) if name in NEGATIVE_EMOTIONS)
        return labels[0], float(confidence[0]), "text", upset

    def _retrieve(self, query: np.ndarray, intent: str | None, language: str, k: int = 3) -> list[KnowledgeAnswer]:
        """Best passages by cosine similarity, one per intent (its best passage decides)."""
        if self.passages.empty:
            return []
        sims = self.passage_matrix @ query
        answers, seen = [], set()
        for i in np.argsort(-sims, kind="stable"):
            row_intent = self._passage_intents[i]
            if row_intent in seen:
                continue
            seen.add(row_intent)
            row = self.passages.iloc[i]
            # shown in the customer's language when the knowledge base has the article in it
            article = self._article(row_intent, language) or (row["article_id"], row["article_title"], row["language"])
            answers.append(KnowledgeAnswer(article[0], article[1] or "", self._article_steps(article[0]), article[2],
                                           row_intent, round(float(sims[i]), 4), "knowledge base retrieval",
                                           row["policy_name"]))
            if len(answers) == k:
                break
        return answers

    def _past_answers(self, query: np.ndarray, k: int = 3) -> list[KnowledgeAnswer]:
        """The agents' replies to the k most similar past resolved questions, each cited by its conversation."""
        if self.past.empty:
            return []
        sims = self.past_matrix @ query
        order = np.argsort(-sims)[:k]
        rows = self.past.iloc[order]
        return [KnowledgeAnswer(r.conversation_id, r.question, r.answer, r.answer_language, r.intent,
                                round(float(score), 4), f"past answer: conversation {r.conversation_id} "
                                f"({r.resolution_evidence})") for r, score in zip(rows.itertuples(), sims[order])]

    def _intent_article(self, intent: str | None, confidence: float, language: str) -> list[KnowledgeAnswer]:
        """The predicted intent's own article: the intent paths are more accurate than any single passage match."""
        article = self._article(intent, language) if intent else None
        if article is None:
            return []
        return [KnowledgeAnswer(article[0], article[1] or "", self._article_steps(article[0]), article[2], intent,
                                round(confidence, 4), "article of the predicted intent", self._policies[article[0]])]

    def _article(self, intent: str, language: str) -> tuple[str, str, str] | None:
        """The intent's article in ``language``, else in the pivot language, else the first one."""
        by_language = self._articles.get(intent)
        if not by_language:
            return None
        return by_language.get(language) or by_language.get(self.pivot) or next(iter(by_language.values()))

    def _article_steps(self, article_id: str) -> str:
        return self._steps.get(article_id, "")

    def _product_patterns(self) -> list[tuple[str, re.Pattern, int]]:
        frame = self._frame("select node_id, name, name_zh, coalesce(mention_count, 0) as mentions "
                            "from marts.kg_nodes where node_type = 'product' order by node_id")
        return product_patterns(frame.itertuples(index=False))

    def _graph(self, text: str, intent: str | None, language: str) -> tuple[list[KnowledgeAnswer], list[str]]:
        """Products the message names (``named_products``), and for the first one the knowledge graph's answer
        path."""
        if not intent or not self.has_graph:
            return [], []
        products = named_products(text, self._products)
        if not products:
            return [], []
        with self._lock:
            cursor = self._conn.cursor()
            try:
                paths = answer_path(cursor, products[0], intent, language)
            finally:
                cursor.close()
        answers = [KnowledgeAnswer(p["article_id"], p["article_title"], p["article_body"] or "", p["article_language"],
                                   p["intent"], float(p["issue_conversations"]),
                                   f"knowledge graph: {p['product']} -> {p['intent']} -> article -> {p['policy']}",
                                   p["policy"]) for p in paths[:1]]
        return answers, products

    def _translate(self, text: str, language: str) -> tuple[str | None, str]:
        if language in (self.pivot, "und"):
            return None, "already in the pivot language" if language == self.pivot else "language not recognised"
        if language not in self.usable_translation or not self.translation_dir:
            return None, (f"machine translation {language}->{self.pivot} is below the quality bar: answers come "
                          f"from cross-lingual embeddings, which read {language} directly")
        from ml.translation import translate

        return translate([text], language, self.pivot, self.translation_dir, device=self.device)[0], "model translation"

    def _cross_sell(self, customer_id: str | None) -> dict | None:
        """The customer's best current offer: top-ranked on their latest contact (the value mart ranks by revenue)."""
        if not customer_id or not self.has_cross_sell:
            return None
        df = self._frame("""select product_id, product_name, product_category, price, confidence, lift,
                                   expected_revenue, offer_rank, because, conversation_id
                            from marts.fct_cross_sell_opportunities where customer_id = ?
                            order by started_at desc, offer_rank limit 1""", [customer_id])
        if df.empty:
            return None
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in df.iloc[0].to_dict().items()}

    # ------------------------------------------------------------------ the API

    def answer(self, message: str, customer_id: str | None = None, voice: dict[str, float] | None = None,
               top_k: int = 3) -> AnswerResult:
        """Everything for one message; never raises on odd text (empty, emoji, very long)."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 1)
            clock = now

        text = mask_pii(str(message or "")[:4000]).strip()
        if not any(ch.isalnum() for ch in text):  # nothing to read: a person looks at it
            return AnswerResult(text, "und", 0.0, None, "nothing to translate", None, 0.0, "no text", [], None, 0.0,
                                "no text", [], None, None, True, ["empty message"], None, [], {})
        language, language_confidence = detect_language(text)
        lap("language")
        translation, translation_note = self._translate(text, language)
        lap("translation")
        query = self.embedder.queries([text or " "])[0].astype(np.float32)
        lap("embedding")
        intent, intent_confidence, escalate_below, intent_source, top = self._intent(text or " ", query)
        lap("intent")
        emotion, emotion_confidence, emotion_source, upset = self._emotion(text or " ", voice)
        lap("emotion")
        graph_answers, products = self._graph(text, intent, language)
        retrieved = self._retrieve(query, intent, language, top_k)
        lap("retrieval")
        answers = graph_answers + self._intent_article(intent, intent_confidence, language) + retrieved
        answers = [a for i, a in enumerate(answers) if a.intent not in {b.intent for b in answers[:i]}]
        past = self._past_answers(query, top_k)
        lap("past answers")
        reply, reply_language = self._reply(answers, intent, language)
        reply_source = "knowledge-base article" if reply else None
        intent_sure = intent is not None and intent_confidence >= escalate_below
        # A past question this close was answered the same way (bench/past_answers.py: about 92% of such
        # pairs share the intent on real sets): its reply stands in when the intent path is unsure or the
        # knowledge base has nothing for it.
        matched = past[0] if past and past[0].score >= self.min_past_similarity else None
        if matched and (reply is None or not intent_sure):
            reply, reply_language = matched.text, matched.language
            reply_source = f"{matched.source}, question {matched.score:.0%} similar"
        reasons = []
        if not intent_sure and matched is None:
            bar = "no calibrated bar reached" if escalate_below > 1 else f"< {escalate_below:.0%}"
            reasons.append(f"intent uncertain ({intent_confidence:.0%}, {bar})")
        if upset >= self.min_negative_confidence:
            named = emotion if emotion in NEGATIVE_EMOTIONS else " or ".join(NEGATIVE_EMOTIONS)
            reasons.append(f"customer is {named} ({emotion_confidence:.0%}; upset {upset:.0%})")
        if HUMAN_REQUEST.search(text):
            reasons.append("customer asks for a person")
        cross_sell = None if reasons else self._cross_sell(customer_id)  # no offers to an unhappy customer
        lap("decision")
        return AnswerResult(text, language, language_confidence, translation, translation_note, intent,
                            round(intent_confidence, 4), intent_source, top, emotion, round(emotion_confidence, 4),
                            emotion_source, answers[:top_k + 1], reply, reply_language, bool(reasons), reasons,
                            cross_sell, products, timings, past, reply_source)

    def _reply(self, answers: list[KnowledgeAnswer], intent: str | None, language: str) -> tuple[str | None, str | None]:
        """The predicted intent's article in the customer's language (else the pivot, translated when usable)."""
        chosen = next((a for a in answers if a.intent == intent), answers[0] if answers else None)
        if chosen is None:
            return None, None
        article = self._article(chosen.intent, language)
        if article is None:
            return chosen.text, chosen.language
        article_id, _, article_language = article
        reply = self._article_steps(article_id)  # the steps are written as the agent says them; the title describes
        if article_language != language and language in self.usable_translation and self.translation_dir:
            from ml.translation import translate

            return translate([reply], article_language, language, self.translation_dir, device=self.device)[0], language
        return reply, article_language

    def close(self) -> None:
        self._conn.close()


def _first(series) -> float | None:
    values = [v for v in series.tolist() if v is not None and v == v]
    return float(values[0]) if values else None


def _training_meta(model_dir: Path | None) -> dict:
    if not model_dir or not (model_dir / "training.json").exists():
        return {}
    return json.loads((model_dir / "training.json").read_text(encoding="utf-8"))


def product_patterns(rows) -> list[tuple[str, re.Pattern, int]]:
    """(node id, a pattern for its whole English or Chinese name, mentions) per (node_id, name, name_zh,
    mentions) row; a product without any name is left out (nothing in a message can name it)."""
    patterns = []
    for node_id, name, name_zh, mentions in rows:
        names = sorted({n.strip() for n in (name, name_zh) if isinstance(n, str) and n.strip()}, key=len, reverse=True)
        if names:
            count = int(mentions) if isinstance(mentions, (int, float)) and mentions == mentions else 0
            patterns.append((node_id, re.compile(_name_pattern(names), re.IGNORECASE), count))
    return patterns


def named_products(text: str, patterns: list[tuple[str, re.Pattern, int]]) -> list[str]:
    """The products whose whole name (English or Chinese) ``text`` contains, in the order it names them.

    A Latin name must stand as words (``pen`` is not in ``open``); a Han name is matched where it stands,
    as Chinese has no spaces. A name inside a longer one the message names is not a mention of its own
    (the vacuum in "vacuum filter"); on the same spot the most mentioned product comes first.
    """
    found = [(hit.start(), hit.start() - hit.end(), -mentions, node_id, hit.end())
             for node_id, pattern, mentions in patterns for hit in pattern.finditer(text)]
    products, taken = [], []
    for start, _, _, node_id, end in sorted(found):  # by place, the longer name first, then the most mentioned
        if node_id not in products and not any(s <= start and end <= e for s, e in taken):
            taken.append((start, end))
            products.append(node_id)
    return products


def _name_pattern(names: list[str]) -> str:
    """Any of ``names`` as a whole: no Latin letter or digit may touch a Latin end of a name."""
    def one(name: str) -> str:
        edge = r"[a-z0-9]"
        before = f"(?<!{edge})" if re.match(edge, name[0], re.IGNORECASE) else ""
        after = f"(?!{edge})" if re.match(edge, name[-1], re.IGNORECASE) else ""
        return before + re.escape(name) + after
    return "|".join(one(n) for n in names)


def engine_from_settings() -> AnswerEngine | None:
    """The engine over the current snapshot and models (None before the first build)."""
    from service_insight.settings import get_settings
    from warehouse.snapshot import current

    s = get_settings()
    ref = current(s.snapshot_dir)
    if ref is None:
        return None
    from ml.classifier import pick_device

    return AnswerEngine(ref.path, s.model_dir, s.embedding_model, s.translation_pivot, str(pick_device(s.device)),
                        min_past_similarity=s.answer_min_past_similarity)
