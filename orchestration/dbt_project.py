"""The dbt project as Dagster sees it; the manifest is parsed once, not at every import.

Why: parsing a dbt project takes seconds. ``make install`` runs ``dbt parse``; here we only
re-parse when the manifest is missing or older than a model, macro, seed or config file, so a
developer who edits SQL never runs a stale manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster_dbt import DbtProject

from service_insight.settings import DBT_PROJECT_DIR

_WATCHED = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR, target_dir: Path | None = None) -> bool:
    manifest = (target_dir or project_dir / "target") / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for name in _WATCHED:
        path = project_dir / name
        files = [path] if path.is_file() else list(path.rglob("*")) if path.exists() else []
        if any(f.stat().st_mtime > built for f in files if f.is_file()):
            return True
    return False


def parse_dbt_project(project_dir: Path = DBT_PROJECT_DIR, target_dir: Path | None = None) -> Path:
    """Run ``dbt parse`` in-process and return the manifest path (in ``target_dir``, else the project's target)."""
    from dbt.cli.main import dbtRunner

    from service_insight.settings import get_settings

    get_settings().export_env()  # models read SI_PII_KEY and SI_WAREHOUSE_PATH while parsing
    target = target_dir or project_dir / "target"
    result = dbtRunner().invoke(["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
                                 "--target-path", str(target), "--log-path", str(target), "--quiet"])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return target / "manifest.json"


# The profile and the project's vars read these; dbt re-parses the whole project (seconds, at each of a build's dbt steps)
# when their values differ from those of the last parse.
_PROFILE_ENV = ("SI_WAREHOUSE_PATH", "SI_HOLIDAY_COUNTRY")


def _parsed_for() -> str:
    return "\n".join(f"{name}={os.environ.get(name, '')}" for name in _PROFILE_ENV)


def parse_dir() -> Path:
    """Where this data folder's parse lives (its ``partial_parse.msgpack`` seeds every dbt step of a build)."""
    from service_insight.settings import get_settings

    return get_settings().dbt_work_dir / "parse"


def parse_for_this_environment(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Parse once for this data folder (again when the project or the warehouse path changed); True when it parsed.

    Why: every dbt step of a build starts from a ``partial_parse.msgpack``; one parsed for another
    profile is thrown away and each step would parse the project in full again. The parse lives in
    the data folder, so builds of two data folders never share, overwrite or race on it.
    """
    target = parse_dir()
    stamp = target / "parsed_for.txt"
    if not manifest_is_stale(project_dir, target) and stamp.exists() and stamp.read_text() == _parsed_for():
        return False
    target.mkdir(parents=True, exist_ok=True)
    parse_dbt_project(project_dir, target)
    stamp.write_text(_parsed_for())
    return True


def seed_partial_parse(target: Path) -> Path:
    """Put this data folder's partial parse in ``target`` (a dbt target folder) and return ``target``.

    Why: dbt started with a target folder of its own parses the whole project again (6 s of a 13 s
    one-model run, measured); seeded, it reads the parse made for this warehouse. dbt checks the file
    against the project, profile and variables and parses afresh when they differ, so a seed is never
    wrong, at worst unused.
    """
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    parsed = parse_dir() / "partial_parse.msgpack"
    if parsed.exists():
        shutil.copy(parsed, target / "partial_parse.msgpack")
    return target


def invocation_target(step: str, run_id: str) -> Path:
    """A fresh run folder for one dbt step, seeded with this data folder's partial parse.

    dagster-dbt would seed it from ``dbt/target`` (the checkout's parse, made for whichever warehouse
    was parsed there last); seeded here, the step reuses the parse made for this warehouse.
    """
    import uuid

    from service_insight.settings import get_settings

    return seed_partial_parse(get_settings().dbt_work_dir / "runs" / f"{step}-{run_id[:8]}-{uuid.uuid4().hex[:6]}")


def load_dbt_project() -> DbtProject:
    if manifest_is_stale():
        parse_dbt_project()
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


dbt_project = load_dbt_project()
