"""A local Spark standalone cluster with a Thrift SQL endpoint: the engine behind the dbt ``spark`` target.

Why: the marts must build on Spark where a company runs one (issue: scale out), and that has to be
tried on a real Spark, not on a SQL dialect guess. The pyspark wheel ships Spark itself and its
``spark-daemon.sh`` but no ``start-*.sh`` scripts, so this module starts the three processes a dbt
``method: thrift`` connection needs:

* a master (``spark://127.0.0.1:PORT``),
* a worker with its own executor JVMs (the "second node": on a real cluster, one per machine),
* the Hive Thrift server, the Spark application that runs dbt's SQL, with its metastore (Derby) and
  table warehouse under the data folder.

Pid files, logs, the metastore and the warehouse of managed tables all live under
``$SI_DATA_DIR/cluster/spark``; ``down`` stops exactly these processes. Ports come from the settings
(``SI_SPARK_MASTER_PORT``, ``SI_SPARK_THRIFT_PORT``) so two data folders can run side by side.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
THRIFT = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def spark_home() -> Path:
    """Spark as the pyspark wheel ships it (jars, bin, sbin/spark-daemon.sh)."""
    try:
        import pyspark
    except ImportError as exc:
        raise RuntimeError("pyspark is not installed in this environment: pip install -e '.[spark]' "
                           "(make cluster-up does it)") from exc
    return Path(pyspark.__file__).parent


def spark_dir() -> Path:
    from service_insight.settings import get_settings

    return get_settings().data_dir / "cluster" / "spark"


def _env() -> dict[str, str]:
    base = spark_dir()
    env = {k: v for k, v in os.environ.items() if k != "SPARK_NO_DAEMONIZE"}  # set at all = run in the foreground
    env.update(SPARK_HOME=str(spark_home()), SPARK_PID_DIR=str(base / "pids"), SPARK_LOG_DIR=str(base / "logs"),
               SPARK_LOCAL_IP="127.0.0.1", SPARK_IDENT_STRING="si", PYSPARK_PYTHON=sys.executable,
               SPARK_WORKER_DIR=str(base / "work"))
    return env


def _daemon(action: str, cls: str, *args: str) -> None:
    script = spark_home() / "sbin" / "spark-daemon.sh"
    with (spark_dir() / "spark-start.log").open("a") as log:
        subprocess.run(["bash", str(script), action, cls, "1", *args], check=True, stdout=log,
                       stderr=subprocess.STDOUT, env=_env(), timeout=120)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, what: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _port_open(port):
            return
        time.sleep(1)
    raise RuntimeError(f"the Spark {what} did not open port {port} within {timeout:.0f} s: see {spark_dir() / 'logs'}")


def up(master_port: int, thrift_port: int, worker_cores: int = 2, worker_memory: str = "2g",
       driver_memory: str = "1g") -> dict:
    """Start master, worker and Thrift server (stopping this folder's earlier ones first); returns the state."""
    down()
    base = spark_dir()
    for sub in ("pids", "logs", "work", "warehouse", "derby"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    master_url = f"spark://127.0.0.1:{master_port}"
    _daemon("start", MASTER, "--host", "127.0.0.1", "--port", str(master_port), "--webui-port",
            str(master_port + 1001))
    _wait_port(master_port, "master", 90)
    _daemon("start", WORKER, master_url, "--host", "127.0.0.1", "--cores", str(worker_cores), "--memory",
            worker_memory, "--webui-port", str(master_port + 1002), "--work-dir", str(base / "work"))
    _daemon("submit", THRIFT, "--name", "service-insight-thrift", "--master", master_url,
            "--driver-memory", driver_memory, "--executor-memory", "1g",
            "--conf", f"spark.sql.warehouse.dir={base / 'warehouse'}",
            "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={base / 'derby'}",
            "--conf", "spark.sql.shuffle.partitions=4",
            # The warehouse's timestamps carry no zone (UTC by the loader's rules): read them as such.
            "--conf", "spark.sql.session.timeZone=UTC",
            # Read SQL as the DuckDB target does: a backslash in a string literal is a backslash (regexes), and
            # "name" is an identifier, not a string.
            "--conf", "spark.sql.parser.escapedStringLiterals=true",
            "--conf", "spark.sql.ansi.doubleQuotedIdentifiers=true",
            "--conf", "spark.ui.enabled=false",
            "--hiveconf", f"hive.server2.thrift.port={thrift_port}",
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1")
    _wait_port(thrift_port, "Thrift server", 180)
    return {"master": master_url, "thrift": f"127.0.0.1:{thrift_port}", "logs": str(base / "logs")}


def _pids() -> list[int]:
    """The processes this folder's pid files name that are still Spark daemons (a pid file left from before a
    reboot may name an unrelated process by now: that one is never stopped)."""
    import psutil

    pid_dir = spark_dir() / "pids"
    pids = []
    for f in sorted(pid_dir.glob("*.pid")) if pid_dir.exists() else []:
        try:
            pid = int(f.read_text().strip())
            cmdline = " ".join(psutil.Process(pid).cmdline())
        except (ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "org.apache.spark" in cmdline:
            pids.append(pid)
    return pids


def down() -> int:
    """Stop this folder's Spark processes (their pid files); returns how many were running."""
    from service_insight.cluster import stop_processes

    stopped = stop_processes(_pids(), timeout=20)
    for f in (spark_dir() / "pids").glob("*.pid") if (spark_dir() / "pids").exists() else []:
        f.unlink()
    return stopped


def running(thrift_port: int) -> bool:
    return bool(_pids()) and _port_open(thrift_port)
