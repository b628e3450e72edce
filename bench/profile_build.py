"""Where the time goes: a sampled CPU profile of a full build and of the live answer under load.

    python bench/profile_build.py [--conversations 3000] [--days 120] [--workdir DIR] [--rate 50]
                                  [--skip-build] [--skip-answer]

Runs the real ``service-insight materialize --no-docs`` (a fresh sample in ``--workdir`` unless it
already has landing files) and then ``bench/answer_latency.py`` with 10 agents, each under py-spy
(``--subprocesses``: dbt's own process is sampled too). Writes each profile as collapsed stacks
(``bench/out/profile/*.txt``: open it in https://www.speedscope.app or feed it to flamegraph.pl)
and prints where the CPU time went: per process, per place in this project's code (the deepest
project frame of each sample, inclusive) and per library doing the work (the innermost frame's
package). Figures are printed and saved as JSON beside the profiles, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "profile"
PROJECT_DIRS = ("service_insight", "orchestration", "warehouse", "ml", "dashboards", "sample_data", "dbt/models",
                "bench")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frames(stack: str) -> tuple[str, list[tuple[str, str]]]:
    """(innermost process's command line, [(function, file)] root first) of one collapsed-stack line.

    py-spy writes each sample's process chain first (``process 1:"";process 2:"dbt build ...";``),
    then the frames; the command line of the process it launched itself is empty.
    """
    parts, command = stack.split(";"), None
    while parts and parts[0].startswith("process "):
        command = parts.pop(0).split(":", 1)[-1].strip('"')
    frames = []
    for part in parts:
        m = _FRAME.match(part)
        frames.append((m["func"], m["file"]) if m else (part, ""))
    return command or "", frames


def _process_kind(command: str, main: str) -> str:
    if not command:
        return main
    words = command.split()
    if "multiprocessing" in command:
        return "process-pool workers"
    for i, word in enumerate(words):
        if word.endswith("/dbt") or word == "dbt":
            return "dbt " + " ".join(words[i + 1:])[:60]
    return " ".join(w.rsplit("/", 1)[-1] for w in words[:3])[:60]


def _project_place(frames: list[tuple[str, str]]) -> str | None:
    for func, file in reversed(frames):  # the innermost frame in the project's own code
        norm = file.replace("\\", "/")
        for d in PROJECT_DIRS:
            at = norm.find(f"/{d}/")
            if at >= 0 or norm.startswith(f"{d}/"):
                rel = norm[at + 1:] if at >= 0 else norm
                return f"{rel}:{func}"
    return None


def _library(frames: list[tuple[str, str]]) -> str:
    """The package of the innermost frame (py-spy writes paths relative to the import path)."""
    if not frames:
        return "?"
    file = frames[-1][1].replace("\\", "/")
    if _project_place(frames[-1:]):
        return "this project"
    if file.startswith("<frozen") or "/lib/python3" in file and "site-packages" not in file:
        return "python stdlib"
    m = re.search(r"site-packages/([^/]+)", file)
    name = m.group(1) if m else file.split("/", 1)[0]
    return "python stdlib" if name.endswith(".py") and "/" not in file else name.removesuffix(".py") or "native"


def summarise(profile: Path, rate: int, main: str = "main process", top: int = 15) -> dict:
    """Seconds of CPU per process kind, project place (inclusive) and library (self), from collapsed stacks."""
    by_process, by_place, by_library = Counter(), Counter(), Counter()
    total = 0
    for line in profile.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        process, frames = _frames(stack)
        total += n
        by_process[_process_kind(process, main)] += n
        by_place[_project_place(frames) or "(outside this project's code)"] += n
        by_library[_library(frames)] += n

    def table(counter: Counter) -> list[dict]:
        return [{"what": k, "seconds": round(v / rate, 1), "share": round(v / total, 3)}
                for k, v in counter.most_common(top)]

    return {"samples": total, "cpu_seconds": round(total / rate, 1), "by_process": table(by_process),
            "by_project_place": table(by_place), "by_library": table(by_library)}


def record(command: list[str], name: str, rate: int, env: dict) -> tuple[Path, float]:
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    started = time.perf_counter()
    done = subprocess.run([str(spy if spy.exists() else "py-spy"), "record", "--format", "raw", "--subprocesses",
                           "--rate", str(rate), "--nonblocking", "-o", str(target), "--", *command],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not target.exists():
        raise SystemExit(f"py-spy failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return target, time.perf_counter() - started


def show(title: str, wall: float, summary: dict) -> None:
    print(f"\n== {title}: {wall:.0f} s wall, {summary['cpu_seconds']:.0f} s CPU sampled "
          f"({summary['samples']:,} samples)")
    for key, label in (("by_process", "per process"), ("by_project_place", "per place in this project (inclusive)"),
                       ("by_library", "per library doing the work (innermost frame)")):
        print(f"  {label}:")
        for row in summary[key]:
            print(f"    {row['seconds']:>8.1f} s  {row['share']:>6.1%}  {row['what']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--workdir", default="", help="data folder (default: a new temporary one)")
    parser.add_argument("--rate", type=int, default=50, help="samples per second")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-answer", action="store_true")
    parser.add_argument("--summarise", nargs="*", default=[], help="only summarise these collapsed-stack files")
    args = parser.parse_args()
    if args.summarise:
        for path in map(Path, args.summarise):
            show(path.name, float("nan"), summarise(path, args.rate))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="si-profile-"))
    env = {**os.environ, "SI_DATA_DIR": str(work), "DAGSTER_HOME": str(work / "dagster_home"), "HF_HUB_OFFLINE": "1"}
    (work / "dagster_home").mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "service_insight.cli"]
    results = {"workdir": str(work), "conversations": args.conversations, "days": args.days, "rate": args.rate}
    if not args.skip_build:
        if not (work / "landing").exists():
            subprocess.run([*cli, "generate", "--scale", str(args.conversations), "--days", str(args.days), "--quiet"],
                           cwd=ROOT, env=env, check=True)
        profile, wall = record([*cli, "materialize", "--no-docs"], "build", args.rate, env)
        results["build"] = {"profile": str(profile), "wall_seconds": round(wall, 1), **summarise(profile, args.rate, "service-insight materialize (Dagster, ingestion, models)")}
        show(f"full build of {args.conversations:,} conversations ({profile.name})", wall, results["build"])
    if not args.skip_answer:
        profile, wall = record([sys.executable, str(ROOT / "bench" / "answer_latency.py"), "--work", str(work),
                                "--users", "10", "--messages-per-user", "20", "--no-compare-batching"],
                               "answer", args.rate, env)
        results["answer"] = {"profile": str(profile), "wall_seconds": round(wall, 1), **summarise(profile, args.rate, "answer engine and its 10 agents")}
        show(f"live answer, 10 agents x 20 messages and the engine's load ({profile.name})", wall, results["answer"])
    (OUT / "summary.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nprofiles and summary.json in {OUT}")


if __name__ == "__main__":
    main()
