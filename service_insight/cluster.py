"""A local Ray cluster of several nodes on this machine: ``service-insight cluster up|down|status``.

``up`` also starts a Spark master, worker and Thrift SQL server (service_insight/spark_cluster.py) for the dbt
target ``spark``, unless ``--no-spark``; ``down`` stops both.

Why: scoring on Ray (``SI_EXECUTOR=ray``, ml/executor.py) must be tried and tested on a real
multi-node cluster, not on Ray's in-process shortcut; one machine can hold a head node and
worker nodes, each a raylet with its own object store, talking over loopback, which is the same
protocol as between machines. On a real cluster a user starts ``ray start`` on each machine
instead and points ``SI_RAY_ADDRESS`` at the head (README, "Scale out").

The nodes' session files and logs live under ``$SI_DATA_DIR/cluster/ray`` (or a short folder in
/tmp when that path is too long for the Unix sockets Ray creates there); ``cluster.json`` beside
them records the address and the process ids, so ``down`` stops only this cluster's processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Ray puts Unix sockets under its temp folder; their paths must stay under the kernel's 107 bytes.
_MAX_TEMP_DIR = 60


def cluster_dir() -> Path:
    from service_insight.settings import get_settings

    return get_settings().data_dir / "cluster"


def _ray_temp_dir() -> Path:
    wanted = cluster_dir() / "ray"
    if len(str(wanted)) <= _MAX_TEMP_DIR:
        return wanted
    return Path("/tmp") / f"si-ray-{hashlib.sha256(str(wanted).encode()).hexdigest()[:10]}"


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _state_file() -> Path:
    return cluster_dir() / "cluster.json"


def up(nodes: int = 2, cpus_per_node: int = 2, port: int = 6379, object_store_mb: int = 300) -> dict:
    """Start a head node and ``nodes - 1`` worker nodes on loopback; returns the recorded state."""
    if shutil.which(_ray_bin()) is None and not Path(_ray_bin()).exists():
        raise RuntimeError("Ray is not installed in this environment: pip install -e '.[scale]' (make cluster-up "
                           "does it)")
    if cpus_per_node < 2:
        raise ValueError("each node needs at least 2 CPUs: a Ray Data actor pool on a 1-CPU node waits forever")
    if _state_file().exists():
        down()
    temp = _ray_temp_dir()
    temp.mkdir(parents=True, exist_ok=True)
    cluster_dir().mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node),
              "--object-store-memory", str(object_store_mb * 1024 * 1024), "--disable-usage-stats"]
    head = [_ray_bin(), "start", "--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard",
            "false", *common]
    with (cluster_dir() / "ray-start.log").open("a") as log:
        subprocess.run(head, check=True, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=180)
        for _ in range(nodes - 1):
            subprocess.run([_ray_bin(), "start", "--address", address, *common], check=True, stdout=log,
                           stderr=subprocess.STDOUT, env=env, timeout=180)
    alive = _wait_for_nodes(address, nodes)
    state = {"address": address, "nodes": alive, "temp_dir": str(temp), "pids": _ray_pids(temp),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _state_file().write_text(json.dumps(state, indent=2))
    return state


def _wait_for_nodes(address: str, nodes: int, timeout: float = 120.0) -> int:
    """Nodes alive once every one has joined (ray status is asked in a child: this process stays Ray-free)."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))")
    deadline, alive = time.time() + timeout, 0
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=120)
        alive = int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0
        if alive >= nodes:
            return alive
        time.sleep(2)
    raise RuntimeError(f"only {alive} of {nodes} Ray nodes joined within {timeout:.0f} s: see "
                       f"{cluster_dir() / 'ray-start.log'}")


def _ray_pids(temp: Path) -> list[int]:
    """This cluster's processes: the ones whose command line names its session folder (worker nodes too)."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if str(temp) in cmdline:
            pids.append(proc.info["pid"])
    return sorted(pids)


def stop_processes(pids, timeout: float = 15.0) -> int:
    """Terminate the given processes, kill those still alive after ``timeout``; returns how many were running."""
    import psutil

    procs = []
    for pid in set(pids):
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    return len(procs)


def down() -> int:
    """Stop this cluster's processes (by the recorded ids and its session folder); returns how many stopped."""
    state_file = _state_file()
    if not state_file.exists():
        return 0
    state = json.loads(state_file.read_text())
    stopped = stop_processes(set(state.get("pids", [])) | set(_ray_pids(Path(state["temp_dir"]))))
    state_file.unlink()
    return stopped


def status() -> dict | None:
    """The recorded state, or None when no cluster was started from this data folder."""
    return json.loads(_state_file().read_text()) if _state_file().exists() else None


def cmd_cluster(args: argparse.Namespace) -> int:
    from service_insight import spark_cluster
    from service_insight.settings import get_settings

    settings = get_settings()
    if args.action == "up":
        if not args.no_ray:
            state = up(args.nodes, args.cpus_per_node, args.port, args.object_store_mb)
            print(f"Ray cluster up: {state['nodes']} nodes at {state['address']} (logs: {state['temp_dir']})")
            print(f"score on it: export SI_EXECUTOR=ray SI_RAY_ADDRESS={state['address']}")
        if not args.no_spark:
            spark = spark_cluster.up(settings.spark_master_port, settings.spark_thrift_port,
                                     worker_memory=args.spark_worker_memory)
            print(f"Spark up: master {spark['master']}, worker, Thrift SQL at {spark['thrift']} (logs: {spark['logs']})")
            print("build the marts on it: service-insight spark build")
        return 0
    if args.action == "down":
        print(f"Ray cluster down: {down()} processes stopped")
        print(f"Spark down: {spark_cluster.down()} processes stopped")
        return 0
    state = status()
    spark_up = spark_cluster.running(settings.spark_thrift_port)
    print(json.dumps(state, indent=2) if state else "no Ray cluster was started from this data folder")
    print(f"Spark Thrift server at {settings.spark_thrift_host}:{settings.spark_thrift_port}: "
          f"{'answering' if spark_up else 'not running'}")
    return 0 if state or spark_up else 1


def add_cluster_parser(sub) -> None:
    c = sub.add_parser("cluster", help="start, stop or show a local multi-node Ray cluster (SI_EXECUTOR=ray) and a "
                                       "Spark master, worker and Thrift server (the dbt target spark)")
    c.add_argument("action", choices=("up", "down", "status"))
    c.add_argument("--nodes", type=int, default=2, help="Ray nodes, the head included (default 2)")
    c.add_argument("--cpus-per-node", type=int, default=2, help="logical CPUs each Ray node offers (at least 2)")
    c.add_argument("--port", type=int, default=6379, help="the Ray head's port (SI_RAY_ADDRESS=127.0.0.1:PORT)")
    c.add_argument("--object-store-mb", type=int, default=300, help="object store of each Ray node, MB")
    c.add_argument("--no-ray", action="store_true", help="start Spark only")
    c.add_argument("--no-spark", action="store_true", help="start Ray only")
    c.add_argument("--spark-worker-memory", default="2g", help="memory the Spark worker offers its executors")
    c.set_defaults(func=cmd_cluster)
