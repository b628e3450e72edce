"""Recovering from a run that died without finishing (SIGKILL, out of memory, power loss).

Why: the writer pool (one DuckDB writer) is a Dagster concurrency pool. A run killed mid-step never
releases its slot and stays "started" in the run history, so the next run would wait for the slot
forever. Runs started by ``service-insight materialize`` carry their process id and host; before a
new run, any such run whose process is gone is marked failed and its slots are freed. The warehouse
itself needs nothing: DuckDB replays or discards the dead writer's last transaction when the file is
next opened, and every asset is idempotent, so the new run ends where one good run would have.
"""

from __future__ import annotations

import os
import socket

PID_TAG = "service_insight/pid"
HOST_TAG = "service_insight/host"


def run_owner_tags() -> dict[str, str]:
    """Tags naming this process as the one running the materialization."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_dead_runs(instance) -> list[str]:
    """Mark runs whose owning process on this host has died as failed and free their pool slots.

    Runs without the owner tags (launched from the Dagster UI or daemon) are left to Dagster's own
    run monitoring. Returns the ids of the runs recovered.
    """
    from dagster import DagsterRunStatus, RunsFilter

    stuck = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING,
                                                           DagsterRunStatus.CANCELING]))
    recovered = []
    for run in stuck:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid is None or host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, f"process {pid} running it ended without finishing (killed or crashed); "
                                        "its writer slot was freed for the next run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered
