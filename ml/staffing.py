"""How many agents an hour of forecast contacts needs: Erlang C with an occupancy cap and shrinkage.

Why: a volume forecast alone does not tell a planner what to roster. Erlang C (the M/M/N queue)
turns offered contacts per interval and the average handle time into the probability that a
contact waits and the share answered within a target time, for any number of agents on the
phones. The smallest N that meets the service-level target is then raised until occupancy is
bearable (agents at 100% occupancy burn out and queues explode at the first surge) and divided
by (1 - shrinkage), because breaks, training and absence take agents off the phones.

Every function is pure and total: zero or negative load gives zero agents, never an exception,
so one odd hour in a forecast cannot stop a plan from being built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Beyond this many agents the search stops: a queue that needs more is mis-specified
# (AHT in milliseconds, a forecast in calls per year); the cap keeps a bad input cheap.
MAX_AGENTS = 10_000


def traffic_erlangs(contacts: float, aht_seconds: float, period_seconds: float = 3600.0) -> float:
    """Offered load in Erlangs: contacts per period times handle time, over the period length."""
    if not _positive(contacts) or not _positive(aht_seconds) or not _positive(period_seconds):
        return 0.0
    return float(contacts) * float(aht_seconds) / float(period_seconds)


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of Erlang B, by the stable recursion B(k) = A B(k-1) / (k + A B(k-1)).

    Why the recursion: the textbook form divides A^N/N! by a sum of such terms and overflows
    floats past about 170 agents; the recursion stays in [0, 1] for any N.
    """
    if agents <= 0:
        return 1.0
    if not _positive(traffic):
        return 0.0
    b = 1.0
    for k in range(1, int(agents) + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that an arriving contact has to wait (Erlang C) with ``agents`` servers.

    With N <= A the queue grows without bound, so every contact waits: 1.0.
    """
    if not _positive(traffic):
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1.0 - b))


def service_level(contacts: float, aht_seconds: float, agents: int, answer_seconds: float,
                  period_seconds: float = 3600.0) -> float:
    """Share of contacts answered within ``answer_seconds``: 1 - C(N, A) exp(-(N - A) t / AHT)."""
    traffic = traffic_erlangs(contacts, aht_seconds, period_seconds)
    if traffic == 0.0:
        return 1.0
    if agents <= traffic:
        return 0.0
    wait = erlang_c(traffic, agents)
    return max(0.0, min(1.0, 1.0 - wait * math.exp(-(agents - traffic) * max(answer_seconds, 0.0) / aht_seconds)))


def average_speed_of_answer(contacts: float, aht_seconds: float, agents: int,
                            period_seconds: float = 3600.0) -> float:
    """Mean wait in seconds over all contacts, C(N, A) AHT / (N - A); infinite when N <= A."""
    traffic = traffic_erlangs(contacts, aht_seconds, period_seconds)
    if traffic == 0.0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht_seconds / (agents - traffic)


@dataclass(frozen=True)
class StaffingRequirement:
    """The answer for one interval; ``scheduled_agents`` is what goes on the roster."""

    traffic_erlangs: float
    agents: int  # on the phones, after the occupancy cap
    scheduled_agents: int  # agents / (1 - shrinkage), rounded up
    service_level: float
    probability_of_wait: float
    occupancy: float
    average_speed_of_answer: float
    limited_by: str  # "none" (no load), "service_level" or "occupancy"


def required_agents(contacts: float, aht_seconds: float, target_service_level: float = 0.8,
                    answer_seconds: float = 20.0, max_occupancy: float = 0.85, shrinkage: float = 0.3,
                    period_seconds: float = 3600.0) -> StaffingRequirement:
    """Smallest N meeting the service-level target, raised to respect the occupancy cap.

    ``contacts`` is offered demand in the period (abandoned contacts included: they were
    demand the roster failed to meet). Inputs out of range are clamped rather than raised on:
    a target above 1 is treated as 1 (reached only asymptotically, so the search stops at
    :data:`MAX_AGENTS`), shrinkage is kept below 0.95 and the occupancy cap above 0.05.
    """
    traffic = traffic_erlangs(contacts, aht_seconds, period_seconds)
    if traffic == 0.0:
        return StaffingRequirement(0.0, 0, 0, 1.0, 0.0, 0.0, 0.0, "none")
    target = min(max(float(target_service_level or 0.0), 0.0), 0.999999)
    occupancy_cap = min(max(float(max_occupancy or 1.0), 0.05), 1.0)
    shrink = min(max(float(shrinkage or 0.0), 0.0), 0.95)

    n = max(1, math.floor(traffic) + 1)  # fewer agents than Erlangs never clears the queue
    while n < MAX_AGENTS and service_level(contacts, aht_seconds, n, answer_seconds, period_seconds) < target:
        n += 1
    limited_by = "service_level"
    by_occupancy = math.ceil(traffic / occupancy_cap - 1e-9)
    if by_occupancy > n:
        n, limited_by = min(by_occupancy, MAX_AGENTS), "occupancy"
    return StaffingRequirement(
        traffic_erlangs=traffic,
        agents=n,
        scheduled_agents=math.ceil(n / (1.0 - shrink) - 1e-9),
        service_level=service_level(contacts, aht_seconds, n, answer_seconds, period_seconds),
        probability_of_wait=erlang_c(traffic, n),
        occupancy=traffic / n,
        average_speed_of_answer=average_speed_of_answer(contacts, aht_seconds, n, period_seconds),
        limited_by=limited_by,
    )


def workload_agents(contacts: float, aht_seconds: float, max_occupancy: float = 0.85, shrinkage: float = 0.3,
                    period_seconds: float = 3600.0) -> StaffingRequirement:
    """Agents for deferred work (email): enough handling hours at the occupancy cap, no queue model.

    Why: an email does not hang up after 20 seconds; Erlang C's answer-time target does not
    apply, only the work must get done within the interval at a sustainable occupancy.
    """
    traffic = traffic_erlangs(contacts, aht_seconds, period_seconds)
    if traffic == 0.0:
        return StaffingRequirement(0.0, 0, 0, 1.0, 0.0, 0.0, 0.0, "none")
    occupancy_cap = min(max(float(max_occupancy or 1.0), 0.05), 1.0)
    shrink = min(max(float(shrinkage or 0.0), 0.0), 0.95)
    n = min(max(1, math.ceil(traffic / occupancy_cap - 1e-9)), MAX_AGENTS)
    return StaffingRequirement(traffic, n, math.ceil(n / (1.0 - shrink) - 1e-9), math.nan, math.nan,
                               traffic / n, math.nan, "occupancy")


def _positive(value: float) -> bool:
    try:
        return value is not None and math.isfinite(float(value)) and float(value) > 0.0
    except (TypeError, ValueError):
        return False


# ---- the hourly plan (used by the dbt model fct_staffing_plan) -----------------------------

# Channels answered live are queued (Erlang C); e-mail and social posts are deferred work (workload only).
QUEUED_CHANNELS = ("phone", "chat")

PLAN_COLUMNS = (
    "channel", "queue_id", "series_level", "period_start", "period_date", "period_hour", "forecast_contacts",
    "forecast_contacts_upper", "is_peak", "aht_seconds", "aht_source", "method", "traffic_erlangs",
    "required_agents", "scheduled_agents", "expected_service_level", "probability_of_wait", "occupancy",
    "average_speed_of_answer_seconds", "limited_by", "service_level_target", "answer_seconds",
    "max_occupancy", "shrinkage",
)


def pick_aht(aht_by_queue: dict[tuple[str, str], float], aht_by_channel: dict[str, float], channel: str,
             queue_id: str, default_seconds: float) -> tuple[float, str]:
    """The queue's own AHT, else its channel's, else the default; and which one was used.

    Why a fallback chain: a new or quiet queue has too few handled contacts for its own
    average, but it still needs a plan.
    """
    for value, source in ((aht_by_queue.get((channel, queue_id)), "queue"), (aht_by_channel.get(channel), "channel")):
        if value is not None and _positive(value):
            return float(value), source
    return float(default_seconds), "default"


def plan_rows(forecast: list[dict], aht_by_queue: dict[tuple[str, str], float], aht_by_channel: dict[str, float],
              target_service_level: float = 0.8, answer_seconds: float = 20.0, max_occupancy: float = 0.85,
              shrinkage: float = 0.3, default_aht_seconds: float = 300.0) -> list[dict]:
    """One plan row per forecast hour: required and scheduled agents for the point forecast.

    ``forecast`` rows carry channel, queue_id, series_level, period_start, period_date, period_hour, yhat,
    yhat_upper and is_peak. The plan staffs the point forecast; ``forecast_contacts_upper``
    is kept beside it so a planner can see how much a bad hour could add.
    """
    out = []
    for row in forecast:
        channel, queue_id = str(row["channel"]), str(row["queue_id"])
        aht, source = pick_aht(aht_by_queue, aht_by_channel, channel, queue_id, default_aht_seconds)
        contacts = float(row["yhat"]) if _positive(row.get("yhat")) else 0.0
        if channel in QUEUED_CHANNELS:
            req, method = required_agents(contacts, aht, target_service_level, answer_seconds, max_occupancy,
                                          shrinkage), "erlang_c"
        else:
            req, method = workload_agents(contacts, aht, max_occupancy, shrinkage), "workload"
        out.append({
            "channel": channel, "queue_id": queue_id, "series_level": row.get("series_level"),
            "period_start": row["period_start"],
            "period_date": row["period_date"], "period_hour": row["period_hour"], "forecast_contacts": contacts,
            "forecast_contacts_upper": row.get("yhat_upper"), "is_peak": bool(row.get("is_peak")),
            "aht_seconds": aht, "aht_source": source, "method": method, "traffic_erlangs": req.traffic_erlangs,
            "required_agents": req.agents, "scheduled_agents": req.scheduled_agents,
            "expected_service_level": _finite_or_none(req.service_level),
            "probability_of_wait": _finite_or_none(req.probability_of_wait), "occupancy": req.occupancy,
            "average_speed_of_answer_seconds": _finite_or_none(req.average_speed_of_answer),
            "limited_by": req.limited_by, "service_level_target": target_service_level,
            "answer_seconds": answer_seconds, "max_occupancy": max_occupancy, "shrinkage": shrinkage,
        })
    return out


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
