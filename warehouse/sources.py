"""The landing-file contract: what each source folder holds and which columns it must have.

Why one table of specs: the loader, the dbt sources and the docs all need the same facts
(names, types, required columns, natural keys, the range and order rules a value must meet);
keeping them in one place means a new source is one entry here plus its staging model.

Rules live here rather than in staging because a row that breaks one is quarantined at the
door, with its file, line and reason, instead of being silently coerced or dropped later.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "VARCHAR"  # DuckDB type the raw table stores
    required: bool = False
    check: str | None = None  # SQL predicate on the typed value ``v`` that must hold
    check_message: str = ""


@dataclass(frozen=True)
class RowCheck:
    """A rule between fields of one record, e.g. a contact cannot end before it started.

    ``predicate`` is SQL over the typed values, each written ``{column}``; it is only tested
    when every column it names has a value (a missing end time is not an order error).
    """

    predicate: str
    message: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    format: str  # "csv" | "jsonl" | "parquet"
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    description: str
    # A new file per day of events. Reference snapshots and label files are not: a review file written today
    # labels contacts of any day, so it must neither wait for "today's" partition nor stretch a build's day range.
    daily: bool = True
    row_checks: tuple[RowCheck, ...] = ()

    @property
    def extensions(self) -> tuple[str, ...]:
        return {"csv": (".csv",), "jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}[self.format]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def identifier_columns(self) -> tuple[str, ...]:
        """The key and every ``*_id`` column: values other records join on.

        Why they get stricter rules than text: an id holding a NUL, a tab or an invisible
        character (zero-width space, bidi mark) looks identical to a clean id on every screen
        but joins to nothing, or splits one customer into two.
        """
        names = list(self.natural_key) + [c.name for c in self.columns if c.name.endswith("_id")]
        return tuple(dict.fromkeys(n for n in names if n in self.column_names))


_CHANNEL = Column("channel", required=True, check="v in ('chat', 'phone', 'email', 'social')",
                  check_message="channel must be chat, phone, email or social")
_SPEAKER = Column("speaker", required=True, check="v in ('customer', 'agent', 'bot', 'system')",
                  check_message="speaker must be customer, agent, bot or system")
_NONNEG = "v >= 0"


def _nonneg(name: str, kind: str = "INTEGER", required: bool = False) -> Column:
    """A count, duration or index: negative values are export errors, never data."""
    return Column(name, kind, required=required, check=_NONNEG, check_message=f"{name} must be >= 0")


def _scale(name: str, kind: str) -> Column:
    """A survey scale end or answer: surveys use small scales (1-5, 0-10, 1-7); anything else is an export error."""
    return Column(name, kind, check="v between -100 and 100", check_message=f"{name} must be between -100 and 100")


_ENDS_AFTER_START = RowCheck("{ended_at} >= {started_at}", "ended_at is before started_at", ("ended_at", "started_at"))

SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("conversations", "jsonl", (
        Column("conversation_id", required=True), _CHANNEL,
        Column("started_at", "TIMESTAMP", required=True), Column("ended_at", "TIMESTAMP"),
        Column("customer_id", required=True), Column("agent_id"), Column("queue_id", required=True),
        Column("final_queue_id"), Column("ui_locale"), Column("order_id"), Column("disposition"),
        _nonneg("transfer_count"), _nonneg("handle_seconds"), _nonneg("first_response_seconds"),
    ), ("conversation_id",), "Conversation headers exported by the chat, e-mail and telephony platforms.",
        row_checks=(_ENDS_AFTER_START,)),
    SourceSpec("turns", "csv", (
        Column("conversation_id", required=True),
        _nonneg("turn_index", required=True),
        _SPEAKER, Column("ts", "TIMESTAMP", required=True), Column("text", required=True),
    ), ("conversation_id", "turn_index"), "Every utterance of every conversation, in order (raw text, contains PII)."),
    SourceSpec("calls", "csv", (
        Column("call_id", required=True), Column("conversation_id", required=True),
        Column("queue_id", required=True), Column("ivr_path"), Column("caller_number"),
        Column("started_at", "TIMESTAMP", required=True),
        _nonneg("ring_seconds"), _nonneg("wait_seconds"), _nonneg("talk_seconds"),
        _nonneg("hold_seconds"), _nonneg("wrap_seconds"), _nonneg("transfers"),
        Column("abandoned", "BOOLEAN", required=True), Column("recording_id"),
    ), ("call_id",), "Call-detail records from the telephony platform (ACD/IVR)."),
    SourceSpec("voice_features", "parquet", (
        Column("recording_id", required=True), Column("conversation_id", required=True),
        _nonneg("turn_index", required=True), Column("speaker"),
        # Every DOUBLE must also be finite (no inf/NaN): the loader checks that for all of them.
        _nonneg("start_offset_s", "DOUBLE"), _nonneg("duration_s", "DOUBLE"), _nonneg("pitch_mean_hz", "DOUBLE"),
        _nonneg("pitch_var", "DOUBLE"), Column("energy_db", "DOUBLE"), _nonneg("speaking_rate_sps", "DOUBLE"),
    ), ("recording_id", "turn_index"), "Per-utterance prosody from the speech-analytics engine."),
    SourceSpec("surveys", "csv", (
        Column("survey_id", required=True), Column("conversation_id", required=True),
        Column("responded_at", "TIMESTAMP", required=True),
        Column("csat", "INTEGER", check="v between 1 and 5", check_message="csat must be 1-5"),
        Column("nps", "INTEGER", check="v between 0 and 10", check_message="nps must be 0-10"),
    ), ("survey_id",), "Post-contact survey answers (CSAT 1-5, NPS 0-10)."),
    SourceSpec("survey_answers", "csv", (
        Column("survey_id", required=True), Column("conversation_id", required=True), Column("survey_name"),
        Column("question_id", required=True), Column("question"),
        Column("measure", check="v in ('csat', 'nps', 'ces', 'other')",
               check_message="measure must be csat, nps, ces or other"),
        _scale("scale_min", "INTEGER"), _scale("scale_max", "INTEGER"),
        Column("sent_at", "TIMESTAMP", required=True), Column("answered_at", "TIMESTAMP"),
        _scale("answer_value", "DOUBLE"), Column("answer_text"),
    ), ("survey_id", "question_id"),
        "Survey questions sent after contacts and their answers, one row per survey and question: the scale "
        "(empty for free text), what the question measures (csat, nps, ces, other), the answer or none yet.",
        row_checks=(
            RowCheck("{answer_value} between {scale_min} and {scale_max}", "answer_value is outside the scale",
                     ("answer_value", "scale_min", "scale_max")),
            RowCheck("{scale_max} > {scale_min}", "scale_max is not above scale_min", ("scale_min", "scale_max")),
            RowCheck("{answered_at} >= {sent_at}", "answered_at is before sent_at", ("answered_at", "sent_at")),
        )),
    SourceSpec("orders", "parquet", (
        Column("order_id", required=True), _nonneg("line_number", required=True),
        Column("customer_id", required=True), Column("ordered_at", "TIMESTAMP", required=True),
        Column("product_id", required=True), _nonneg("quantity"), _nonneg("unit_price", "DOUBLE"),
    ), ("order_id", "line_number"), "Order lines from the shop."),
    SourceSpec("annotations", "jsonl", (
        Column("annotation_id", required=True), Column("conversation_id", required=True),
        Column("annotator", required=True), Column("intent"), Column("emotion"),
        Column("resolved", "BOOLEAN"), Column("labelled_at", "TIMESTAMP"), Column("adjudicated", "BOOLEAN"),
    ), ("annotation_id",), "Labels from human annotators (two per sampled conversation).", daily=False),
    SourceSpec("turn_labels", "jsonl", (
        Column("label_id", required=True), Column("conversation_id", required=True),
        _nonneg("turn_index", required=True),
        Column("annotator", required=True),
        Column("label_kind", required=True, check="v in ('emotion', 'act')",
               check_message="label_kind must be emotion or act"),
        Column("label", required=True), Column("labelled_at", "TIMESTAMP"), Column("adjudicated", "BOOLEAN"),
    ), ("label_id",), "Turn-level labels from QA reviewers: the customer's emotion and the agent's act per turn.",
        daily=False),
    SourceSpec("training_sessions", "jsonl", (
        Column("session_id", required=True), Column("trainee", required=True),
        Column("started_at", "TIMESTAMP", required=True), Column("ended_at", "TIMESTAMP"),
        Column("persona_id", required=True), Column("conversation_id"), Column("intent"), Column("language"),
        Column("difficulty", "INTEGER", required=True, check="v between 1 and 3",
               check_message="difficulty must be 1, 2 or 3"),
        _nonneg("replies"), Column("goal_met", "BOOLEAN", required=True), Column("customer_left", "BOOLEAN"),
        Column("policy_compliant", "BOOLEAN"), Column("empathy_shown", "BOOLEAN"), Column("de_escalated", "BOOLEAN"),
        Column("final_mood"),
        Column("score", "DOUBLE", check="v between 0 and 1", check_message="score must be between 0 and 1"),
        Column("picked_by"), Column("transcript"),
    ), ("session_id",), "Trainee simulator sessions: the case practised, how it ended and its scores.",
        row_checks=(_ENDS_AFTER_START,)),
    SourceSpec("customers", "csv", (
        Column("customer_id", required=True), Column("full_name"), Column("given_name"), Column("family_name"),
        Column("language"), Column("phone"), Column("email"), Column("id_card"), Column("bank_card"),
        Column("city"), Column("segment"),
        Column("signup_date", "DATE", check="v <= current_date + 1", check_message="signup_date is in the future"),
    ), ("customer_id",), "CRM customer snapshot (contains PII).", daily=False),
    SourceSpec("agents", "csv", (
        Column("agent_id", required=True), Column("agent_name"), Column("team_id", required=True),
        Column("languages"), Column("hired_on", "DATE"), Column("site"),
    ), ("agent_id",), "Workforce-management agent roster.", daily=False),
    SourceSpec("teams", "csv", (
        Column("team_id", required=True), Column("team_name"), Column("category"),
    ), ("team_id",), "Teams of the contact centre.", daily=False),
    SourceSpec("queues", "csv", (
        Column("queue_id", required=True), Column("queue_name"), Column("team_id", required=True),
        Column("ivr_digit", "INTEGER", check="v between 0 and 9", check_message="ivr_digit must be a keypad digit 0-9"),
    ), ("queue_id",), "Routing queues and the IVR digit leading to each.", daily=False),
    SourceSpec("products", "parquet", (
        Column("product_id", required=True), Column("name_en"), Column("name_zh"), Column("category"),
        _nonneg("price", "DOUBLE"),
    ), ("product_id",), "Product catalogue.", daily=False),
    SourceSpec("kb_articles", "parquet", (
        Column("article_id", required=True), Column("language", required=True), Column("intent"),
        Column("title", required=True), Column("body", required=True), Column("policy_id"),
        Column("policy_name"), Column("team_id"),
    ), ("article_id",), "Knowledge-base articles from the help-desk tool: resolution steps and the policy applied.",
        daily=False),
    SourceSpec("translation_memory", "parquet", (
        Column("segment_id", required=True), Column("language", required=True), Column("text", required=True),
    ), ("segment_id", "language"), "Translation memory: segments with the same segment_id translate each other.",
        daily=False),
)

SOURCE_BY_NAME = {s.name: s for s in SOURCES}
