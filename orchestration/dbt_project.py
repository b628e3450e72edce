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


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for name in _WATCHED:
        path = project_dir / name
        files = [path] if path.is_file() else list(path.rglob("*")) if path.exists() else []
        if any(f.stat().st_mtime > built for f in files if f.is_file()):
            return True
    return False


def parse_dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run ``dbt parse`` in-process and return the manifest path."""
    from dbt.cli.main import dbtRunner

    from service_insight.settings import get_settings

    get_settings().export_env()  # models read SI_PII_KEY and SI_WAREHOUSE_PATH while parsing
    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return project_dir / "target" / "manifest.json"


# The profile reads these; dbt re-parses the whole project (seconds, at each of a build's dbt steps)
# when their values differ from those of the last parse.
_PROFILE_ENV = ("SI_WAREHOUSE_PATH",)


def _parsed_for() -> str:
    return "\n".join(f"{name}={os.environ.get(name, '')}" for name in _PROFILE_ENV)


def parse_for_this_environment(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Re-parse once when the last parse saw another warehouse path; True when it parsed.

    Why: every dbt step of a build starts from ``target/partial_parse.msgpack``; parsed for another
    profile it is thrown away and each step parses the project in full again.
    """
    stamp = project_dir / "target" / "parsed_for.txt"
    if not manifest_is_stale(project_dir) and stamp.exists() and stamp.read_text() == _parsed_for():
        return False
    parse_dbt_project(project_dir)
    stamp.write_text(_parsed_for())
    return True


def load_dbt_project() -> DbtProject:
    if manifest_is_stale():
        parse_dbt_project()
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


dbt_project = load_dbt_project()
