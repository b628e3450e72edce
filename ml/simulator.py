"""The trainee simulator (scenario 9): practise on customers mined from the warehouse, scored as QA scores agents.

Why mined and not written: a new agent should meet the questions, products and phrasings of *this*
contact centre. A persona is one real conversation of the snapshot (PII already masked): its intent of
record, its first customer message as the opening, its later customer messages as the facts the
customer reveals when asked, and the intent's reference answers (knowledge-base steps and agent replies
that closed resolved contacts of that intent). Difficulty sets how many facts the customer holds back,
how annoyed they start and how many unhelpful replies they tolerate.

The customer is a small, seeded state machine, not a language model: every reply of the trainee is
scored with the platform's own measures, and the customer reacts to the score.
- **answer check**: cosine similarity of the reply to the intent's reference answers with the packaged
  encoder (the same role and encoder as ``ml.retrieval.check_new_solutions``); "helpful" when its nearest
  reference is of the persona's intent and at least the threshold the bank derived from the data
  (``helpful_threshold``: the 20th percentile of each reference's similarity to its nearest sibling);
- **policy**: the QA forbidden-phrase list (``dbt/seeds/qa_forbidden_phrases.csv``, per language);
- **empathy and questions**: the quality-act model when one is trained (acts ``empathy``, ``clarify``),
  else a short EN/ZH word list; the summary says which.
Mood rises when the customer is ignored or insulted and falls when they are acknowledged; a customer
whose patience runs out leaves. The goal is met when a helpful answer comes after the facts the
difficulty holds back were drawn out.

The curriculum (:class:`Curriculum`) is the reinforcement-learning part: a multi-armed bandit whose arms
are (intent, difficulty), with a Beta posterior of the trainee's success per arm (sharing evidence
across intents of one difficulty); each case is drawn by Thompson sampling towards the arm whose
sampled success is closest to 70%, the level at which practice is neither trivial nor hopeless. It
optimises the trainee's time on cases of the right difficulty, not a score.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

MOODS = ("calm", "annoyed", "angry")
LEFT = "left"
TARGET_SUCCESS = 0.7
EMPATHY_WORDS = {
    "en": ("sorry", "apolog", "understand", "i see how", "frustrat", "thank you for your patience", "i hear you"),
    "zh": ("抱歉", "对不起", "理解", "不好意思", "给您带来", "辛苦", "感谢您的耐心"),
}
CUSTOMER_LINES = {  # what the customer says when the reply did not help, by mood; then when satisfied or leaving
    "en": {"ignored": ("That doesn't really answer my question.", "You're not listening. I asked about my problem.",
                       "This is getting ridiculous. Can you actually help me?"),
           "rude": ("Excuse me? There's no need to talk to me like that.", "Wow. I want to speak to a manager."),
           "satisfied": "Okay, that helps. Thank you.", "left": "Forget it, I'll take my business elsewhere."},
    "zh": {"ignored": ("这并没有回答我的问题。", "你根本没在听，我问的是我的问题。", "太离谱了，你到底能不能帮我？"),
           "rude": ("你这是什么态度？", "我要投诉，找你们经理来。"),
           "satisfied": "好的，这样就清楚了，谢谢。", "left": "算了，我不想再说了。"},
}
SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt" / "seeds"


@dataclass(frozen=True)
class Persona:
    persona_id: str
    conversation_id: str
    intent: str
    language: str
    opening: str
    agenda: tuple[str, ...]  # what the customer reveals, one fact per good question or acknowledgement

    def at(self, difficulty: int) -> "Case":
        difficulty = min(max(int(difficulty), 1), 3)
        return Case(self, difficulty, hidden=min(difficulty - 1, len(self.agenda)), patience=5 - difficulty,
                    mood=difficulty - 1)


@dataclass(frozen=True)
class Case:
    persona: Persona
    difficulty: int
    hidden: int  # facts the trainee must draw out before an answer can settle it
    patience: int  # unhelpful replies tolerated
    mood: int  # starting mood (index into MOODS)


@dataclass
class TurnScore:
    reply: str
    similarity: float
    helpful: bool
    empathetic: bool
    asks: bool
    forbidden: list[str]
    mood_before: str
    mood_after: str
    customer_reply: str
    outcome: str  # "revealed", "helped", "ignored", "rude", "left"


@dataclass
class Session:
    case: Case
    seed: int
    mood: int = 0
    patience: int = 0
    revealed: int = 0
    goal_met: bool = False
    left: bool = False
    worst_mood: int = 0
    turns: list[TurnScore] = field(default_factory=list)
    customer: list[str] = field(default_factory=list)

    @property
    def over(self) -> bool:
        return self.goal_met or self.left

    @property
    def empathy_shown(self) -> bool | None:
        """Empathy in a reply while the customer was upset; None when they never were before a reply."""
        upset = [t for t in self.turns if t.mood_before != "calm"]
        return any(t.empathetic for t in upset) if upset else None

    def summary(self, empathy_source: str) -> dict:
        """End-of-session scores (what the trainee and the progress marts read)."""
        replies = len(self.turns)
        return {
            "persona_id": self.case.persona.persona_id, "intent": self.case.persona.intent,
            "language": self.case.persona.language, "difficulty": self.case.difficulty, "seed": self.seed,
            "replies": replies, "goal_met": self.goal_met, "customer_left": self.left,
            "policy_compliant": not any(t.forbidden for t in self.turns),
            "empathy_shown": self.empathy_shown,
            # Was an upset customer calmer at the end than at their worst? (None: never upset.)
            "de_escalated": (not self.left and self.mood < self.worst_mood) if self.worst_mood else None,
            "final_mood": LEFT if self.left else MOODS[self.mood],
            "score": round(session_score(self), 3), "empathy_source": empathy_source,
        }


def session_score(s: Session) -> float:
    """0-1: half for meeting the goal, a quarter for policy, the rest for empathy when it was called for and
    for answering in few replies (handle time)."""
    if not s.turns:
        return 0.0
    empathy = 1.0 if s.empathy_shown is None else float(s.empathy_shown)
    speed = 1.0 / max(1, len(s.turns) - s.case.hidden)
    return 0.5 * s.goal_met + 0.25 * (not any(t.forbidden for t in s.turns)) + 0.15 * empathy + 0.10 * speed


def forbidden_phrases(path: Path | None = None) -> dict[str, list[str]]:
    """language -> phrases of the QA forbidden-phrase seed."""
    out: dict[str, list[str]] = {}
    with open(path or SEEDS_DIR / "qa_forbidden_phrases.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["language"], []).append(row["phrase"].lower())
    return out


class PersonaBank:
    """Personas and reference answers mined from a snapshot, with the encoder that scores replies."""

    def __init__(self, personas: list[Persona], references: dict[str, list[str]], embedder,
                 forbidden: dict[str, list[str]], act_model: Path | None = None, device: str = "cpu"):
        self.personas = sorted(personas, key=lambda p: p.persona_id)
        self.embedder, self.forbidden, self.act_model, self.device = embedder, forbidden, act_model, device
        self.ref_intents = [i for i, texts in sorted(references.items()) for _ in texts]
        self.ref_texts = [t for _, texts in sorted(references.items()) for t in texts]
        self.ref_vectors = embedder.passages(self.ref_texts) if self.ref_texts else np.zeros((0, embedder.dim))
        self.helpful_threshold = self._threshold()
        self.intents = sorted({p.intent for p in self.personas})

    def _threshold(self) -> float:
        """The 20th percentile of each reference's similarity to its nearest other reference of the same intent."""
        sims = []
        intents = np.array(self.ref_intents)
        for i, intent in enumerate(self.ref_intents):
            same = np.flatnonzero((intents == intent) & (np.arange(len(intents)) != i))
            if len(same):
                sims.append(float(np.max(self.ref_vectors[same] @ self.ref_vectors[i])))
        return float(np.percentile(sims, 20)) if len(sims) >= 5 else 0.85

    @property
    def empathy_source(self) -> str:
        return "quality-act model" if self.act_model else "word list (no quality-act model trained yet)"

    def persona(self, seed: int, intent: str | None = None) -> Persona:
        pool = [p for p in self.personas if intent is None or p.intent == intent] or self.personas
        return pool[random.Random(seed).randrange(len(pool))]

    def score_reply(self, reply: str, persona: Persona) -> tuple[float, bool, bool, bool, list[str]]:
        """(similarity to the persona's intent's best reference, helpful, empathetic, asks, forbidden phrases)."""
        text = reply.strip()
        if not text or not self.ref_texts:
            return 0.0, False, False, False, []
        vector = self.embedder.passages([text])[0]
        sims = self.ref_vectors @ vector
        mine = np.array([i == persona.intent for i in self.ref_intents])
        similarity = float(sims[mine].max()) if mine.any() else 0.0
        other = float(sims[~mine].max()) if (~mine).any() else -1.0
        # Knowledge bases share steps between intents ("verify your identity"): a tie with another intent's
        # reference still answers this one; a clearly closer other intent does not.
        helpful = similarity >= self.helpful_threshold and similarity >= other - 0.01
        lowered = text.lower()
        phrases = self.forbidden.get(persona.language, []) + (self.forbidden.get("en", []) if persona.language != "en" else [])
        forbidden = [p for p in phrases if p in lowered]
        empathetic, asks = self._acts(text, persona.language)
        return similarity, helpful, empathetic, asks, forbidden

    def _acts(self, text: str, language: str) -> tuple[bool, bool]:
        asks = "?" in text or "？" in text or bool(re.search(r"(吗|呢)[。！]?$", text))
        if self.act_model:
            from ml.classifier import predict

            labels, _, _ = predict(self.act_model, [text], device=self.device)
            return labels[0] == "empathy", asks or labels[0] == "clarify"
        words = EMPATHY_WORDS.get(language, ()) + EMPATHY_WORDS["en"]
        return any(w in text.lower() for w in words), asks

    def start(self, case: Case, seed: int) -> Session:
        s = Session(case, seed, mood=case.mood, patience=case.patience, worst_mood=case.mood)
        s.customer.append(case.persona.opening)
        return s

    def reply(self, session: Session, text: str) -> TurnScore:
        """Score the trainee's reply, move the customer, and return what happened."""
        if session.over:
            raise ValueError("the session is over")
        persona, rng = session.case.persona, random.Random(f"{session.seed}:{len(session.turns)}")
        lines = CUSTOMER_LINES.get(persona.language, CUSTOMER_LINES["en"])
        similarity, helpful, empathetic, asks, forbidden = self.score_reply(text, persona)
        before = MOODS[session.mood]
        if forbidden:
            session.mood += 2 if session.case.difficulty == 3 else 1
            session.patience -= 1
            outcome, said = "rude", rng.choice(lines["rude"])
        elif helpful and session.revealed >= session.case.hidden:
            session.goal_met, outcome, said = True, "helped", lines["satisfied"]
            session.mood = max(0, session.mood - 1)
        elif (asks or empathetic) and session.revealed < len(persona.agenda):
            said, outcome = persona.agenda[session.revealed], "revealed"
            session.revealed += 1
            if empathetic:
                session.mood = max(0, session.mood - 1)
        else:
            session.mood += 0 if empathetic else 1
            session.patience -= 1
            outcome = "ignored"
            said = lines["ignored"][min(session.mood, len(lines["ignored"]) - 1)]
        if session.mood >= len(MOODS) or session.patience <= 0:
            session.left, outcome, said = True, "left", lines["left"]
            session.mood = len(MOODS) - 1
        session.worst_mood = max(session.worst_mood, session.mood)
        turn = TurnScore(text, round(similarity, 4), helpful, empathetic, asks, forbidden, before,
                         LEFT if session.left else MOODS[session.mood], said, outcome)
        session.turns.append(turn)
        session.customer.append(said)
        return turn


def simulate(bank: PersonaBank, replies: Sequence[str], seed: int, difficulty: int,
             intent: str | None = None) -> dict:
    """A scripted trainee: the replies in order until the case ends (the CLI and the tests use it)."""
    case = bank.persona(seed, intent).at(difficulty)
    session = bank.start(case, seed)
    for text in replies:
        if session.over:
            break
        bank.reply(session, text)
    return {"opening": case.persona.opening, "turns": [asdict(t) for t in session.turns],
            **session.summary(bank.empathy_source)}


@dataclass
class Curriculum:
    """Thompson sampling over (intent, difficulty) towards a ~70% success rate (see the module docstring)."""
    intents: list[str]
    seed: int = 0
    history: list[tuple[str, int, bool]] = field(default_factory=list)
    # Prior successes/failures per difficulty: a new trainee is expected to pass easy cases, not hard ones.
    prior: dict[int, tuple[float, float]] = field(default_factory=lambda: {1: (4.0, 1.0), 2: (2.5, 2.5), 3: (1.0, 4.0)})

    def posterior(self, intent: str, difficulty: int) -> tuple[float, float]:
        a, b = self.prior[difficulty]
        for i, d, ok in self.history:
            weight = 1.0 if i == intent else 0.5  # other intents of this difficulty count half
            if d == difficulty:
                a, b = a + weight * ok, b + weight * (not ok)
            elif ok and d > difficulty:  # passing a harder case says the easier one is easy
                a += 0.5 * weight
            elif not ok and d < difficulty:  # failing an easier case says the harder one is hard
                b += 0.5 * weight
        return a, b

    def next_case(self) -> tuple[str, int]:
        rng = np.random.default_rng([self.seed, len(self.history)])
        best, arm = None, None
        for intent in self.intents:
            for difficulty in (1, 2, 3):
                p = rng.beta(*self.posterior(intent, difficulty))
                gap = abs(p - TARGET_SUCCESS)
                if best is None or gap < best:
                    best, arm = gap, (intent, difficulty)
        return arm

    def record(self, intent: str, difficulty: int, success: bool) -> None:
        self.history.append((intent, int(difficulty), bool(success)))

    def expected_difficulty(self) -> float:
        """Mean difficulty the curriculum would pick now (over 200 draws): the trend the tests follow."""
        picks = []
        for k in range(200):
            c = Curriculum(self.intents, seed=self.seed * 1000 + k, history=list(self.history), prior=self.prior)
            picks.append(c.next_case()[1])
        return float(np.mean(picks))


def mine_personas(conn, min_customer_turns: int = 1, per_intent: int = 50) -> tuple[list[Persona], dict[str, list[str]]]:
    """(personas, reference answers per intent) from a snapshot connection.

    Personas: conversations with an intent of record and a customer message; reference answers: the
    knowledge base's steps for the intent and agent replies that closed resolved contacts of it.
    """
    rows = conn.execute("""
        with firsts as (
            select t.conversation_id, i.intent_of_record as intent,
                   list(t.text order by t.turn_index) filter (where t.speaker = 'customer') as said
            from marts.fct_turns as t
            join marts.fct_conversation_intents as i using (conversation_id)
            where i.intent_of_record is not null and coalesce(t.text, '') <> ''
            group by all
        )
        select f.conversation_id, f.intent, coalesce(c.ui_locale, 'und') as language, f.said
        from firsts as f join marts.fct_conversations as c using (conversation_id)
        where len(f.said) >= ?
        qualify row_number() over (partition by f.intent order by hash(f.conversation_id)) <= ?
        order by 1""", [min_customer_turns, per_intent]).fetchall()
    # The facts: the customer's later messages, without the last one when there are three or more (usually
    # the thanks at the end).
    personas = [Persona(f"P-{cid}", cid, intent, _language(language, said[0]), said[0],
                        tuple(said[1:-1][:3] if len(said) >= 3 else said[1:]))
                for cid, intent, language, said in rows]
    references: dict[str, list[str]] = {}
    for intent, text in conn.execute("""
            select intent, text from marts.dim_kb_passages where passage_index > 0 and intent is not null
            union all
            select * from (
                select intent, answer from marts.dim_resolved_answers
                where intent is not null and coalesce(answer, '') <> ''
                qualify row_number() over (partition by intent order by hash(conversation_id)) <= 12)
            order by 1, 2""").fetchall():
        references.setdefault(intent, []).append(text)
    personas = [p for p in personas if p.intent in references]
    return personas, references


def _language(locale: str, text: str) -> str:
    """'zh' / 'en' / ... from the contact's locale, else from the text (Han characters mean Chinese)."""
    code = (locale or "und").split("-")[0].split("_")[0].lower()
    if code not in ("", "und"):
        return code
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def bank_from_settings():
    """The persona bank of the current snapshot (None before the first build), with the current act model."""
    import duckdb

    from ml.classifier import pick_device
    from ml.embeddings import get_embedder
    from ml.registry import current_model_dir
    from service_insight.settings import get_settings
    from warehouse.snapshot import current

    s = get_settings()
    ref = current(s.snapshot_dir)
    if ref is None:
        return None
    with duckdb.connect(str(ref.path), read_only=True) as conn:
        personas, references = mine_personas(conn)
    return PersonaBank(personas, references, get_embedder(s.embedding_model, str(pick_device(s.device))),
                       forbidden_phrases(), current_model_dir(s.model_dir, "quality_act"), str(pick_device(s.device)))
