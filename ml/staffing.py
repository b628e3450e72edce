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

import functools
import math
from dataclasses import dataclass

import numpy as np

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


# ---- Erlang A: the M/M/N+M queue, where waiting customers hang up --------------------------------

# Probability mass left out when the queue length or the uniformization steps are truncated.
_TAIL = 1e-12


@dataclass(frozen=True)
class ErlangA:
    """The steady state of one interval with ``agents`` agents when callers abandon at rate 1/patience."""

    service_level: float  # share of offered contacts answered within the answer time
    abandonment: float  # share of offered contacts that hang up before an agent answers
    probability_of_wait: float  # share that find every agent busy
    occupancy: float  # carried load (answered contacts only) per agent
    average_wait: float  # mean time in queue of every offered contact (answered or not), seconds


def _queue_distribution(traffic: float, agents: int, patience_ratio: float) -> np.ndarray:
    """Stationary P(k in system), k = 0..K, of the M/M/N+M birth-death chain (unit service rate).

    Birth rate A (the offered Erlangs), death rate min(k, N) + max(k - N, 0) * patience_ratio, where
    patience_ratio = AHT / mean patience. Computed by ratios from k = 0, rescaled as it grows, and cut
    where the remaining mass is below :data:`_TAIL`.
    """
    weights, peak = [1.0], 1.0
    k = 0
    while True:
        k += 1
        death = min(k, agents) + max(k - agents, 0) * patience_ratio
        weights.append(weights[-1] * traffic / death)
        if weights[-1] > 1e250:  # keep the floats finite; the shape is what matters
            weights = [w / 1e250 for w in weights]
            peak /= 1e250
        peak = max(peak, weights[-1])
        # past the mode the terms fall at least geometrically: the rest of the tail is below last / (1 - ratio)
        if k > agents and traffic / death < 0.99 and weights[-1] < _TAIL * peak * (1 - traffic / death):
            break
        if k > agents + 200_000:
            break
    p = np.asarray(weights)
    return p / p.sum()


def _served_within(agents: int, patience_ratio: float, answer_aht: float, ahead: int) -> np.ndarray:
    """P(answered within the answer time | j callers ahead in the queue, every agent busy), j = 0..ahead.

    The tagged caller moves up as callers ahead are answered (rate N) or hang up (j * patience_ratio),
    and hangs up itself at rate patience_ratio (times in AHTs). Solved by uniformization: the chain's
    state after K jumps of a Poisson clock, weighted by P(K jumps within the answer time).
    """
    j = np.arange(ahead + 1)
    down = agents + j * patience_ratio  # to one place nearer (from j = 0: answered)
    rate = float(down[-1] + patience_ratio)
    p_down, p_stay = down / rate, 1.0 - (down + patience_ratio) / rate
    lam = rate * answer_aht
    if lam <= 0:
        return np.zeros(ahead + 1)
    absorbed = np.zeros(ahead + 1)  # P(answered within K jumps)
    total = np.zeros(ahead + 1)
    log_poisson = -lam  # log P(K jumps), K = 0 first
    k, mass = 0, 0.0
    while True:
        if k > 0:
            shifted = np.concatenate(([1.0], absorbed[:-1]))
            absorbed = p_down * shifted + p_stay * absorbed
            log_poisson += math.log(lam) - math.log(k)
        poisson = math.exp(log_poisson)
        total += poisson * absorbed
        mass += poisson
        k += 1
        if (k > lam and 1.0 - mass < _TAIL) or k > lam + 50 * math.sqrt(lam) + 100:
            return np.clip(total, 0.0, 1.0)


def erlang_a(contacts: float, aht_seconds: float, agents: int, patience_seconds: float, answer_seconds: float,
             period_seconds: float = 3600.0) -> ErlangA:
    """Service level, abandonment, wait and occupancy of the M/M/N+M queue (Palm's Erlang A).

    Why beside Erlang C: Erlang C assumes nobody hangs up, so every excess caller waits forever and
    the queue it predicts is longer than the real one; with patience measured from the data's
    abandoned calls the same forecast needs fewer agents, and the plan can say how many callers it
    expects to lose. ``patience_seconds`` infinite (or not positive) gives Erlang C's figures.
    """
    traffic = traffic_erlangs(contacts, aht_seconds, period_seconds)
    if traffic == 0.0:
        return ErlangA(1.0, 0.0, 0.0, 0.0, 0.0)
    if agents <= 0:
        return ErlangA(0.0, 1.0, 1.0, 0.0, math.inf)
    if not _positive(patience_seconds) or not math.isfinite(float(patience_seconds)):
        sl = service_level(contacts, aht_seconds, agents, answer_seconds, period_seconds)
        return ErlangA(sl, 0.0, erlang_c(traffic, agents), min(traffic / agents, 1.0),
                       average_speed_of_answer(contacts, aht_seconds, agents, period_seconds))
    ratio = float(aht_seconds) / float(patience_seconds)
    p = _queue_distribution(traffic, int(agents), ratio)
    n = int(agents)
    queued = p[n:]  # arrivals that find all busy see j = k - n ahead (PASTA)
    waiting = float(queued.sum())
    mean_queue = float((np.arange(len(queued)) * queued).sum())
    abandonment = ratio * mean_queue / traffic  # hang-ups per unit time over arrivals per unit time
    within = _served_within(n, ratio, max(float(answer_seconds), 0.0) / float(aht_seconds), len(queued) - 1)
    answered_fast = float(p[:n].sum()) + float((queued * within).sum())
    answered = max(1.0 - abandonment, 1e-12)
    wait_all = mean_queue / traffic * float(aht_seconds)  # Little's law on the queue
    return ErlangA(min(max(answered_fast, 0.0), 1.0), min(max(abandonment, 0.0), 1.0), waiting,
                   min(traffic * answered / n, 1.0), wait_all)


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
    "max_occupancy", "shrinkage", "patience_seconds", "patience_source", "required_agents_erlang_a",
    "scheduled_agents_erlang_a", "expected_service_level_erlang_a", "expected_abandonment_erlang_a",
    "intra_hour_slot_minutes", "required_agents_intra_hour", "expected_service_level_intra_hour",
)

# Abandoned calls a queue needs before its own patience is trusted (else its channel's).
MIN_ABANDONS_FOR_PATIENCE = 20


def estimate_patience(calls: list[tuple[str, str, float, bool]],
                      min_abandons: int = MIN_ABANDONS_FOR_PATIENCE) -> tuple[dict, dict]:
    """Mean patience in seconds per (channel, queue) and per channel, from (channel, queue, wait, abandoned).

    Why this estimator: a caller's patience is seen only when they hang up; an answered caller's
    wait says only that their patience was longer (a censored observation). For exponential
    patience the maximum-likelihood rate is abandons / total waiting time of everyone who waited,
    so the mean patience is that total over the abandons. A queue with fewer than ``min_abandons``
    hang-ups borrows its channel's figure; a channel with none has no estimate (Erlang C applies).
    """
    by_queue: dict[tuple[str, str], list[float]] = {}
    by_channel: dict[str, list[float]] = {}
    for channel, queue_id, wait, abandoned in calls:
        if wait is None or not math.isfinite(float(wait)) or float(wait) < 0:
            continue
        for key, table in (((str(channel), str(queue_id)), by_queue), (str(channel), by_channel)):
            total = table.setdefault(key, [0.0, 0.0])
            total[0] += float(wait)
            total[1] += 1.0 if abandoned else 0.0
    queue = {k: w / a for k, (w, a) in by_queue.items() if a >= min_abandons and w > 0}
    channel = {k: w / a for k, (w, a) in by_channel.items() if a >= min_abandons and w > 0}
    return queue, channel


def required_agents_erlang_a(contacts: float, aht_seconds: float, patience_seconds: float,
                             target_service_level: float = 0.8, answer_seconds: float = 20.0,
                             max_occupancy: float = 0.85) -> tuple[int, ErlangA]:
    """Smallest N whose Erlang A service level meets the target, raised to the occupancy cap."""
    traffic = traffic_erlangs(contacts, aht_seconds)
    if traffic == 0.0:
        return 0, ErlangA(1.0, 0.0, 0.0, 0.0, 0.0)
    target = min(max(float(target_service_level or 0.0), 0.0), 0.999999)
    cap = min(max(float(max_occupancy or 1.0), 0.05), 1.0)

    def meets(reading: ErlangA) -> bool:
        return reading.service_level >= target and reading.occupancy <= cap

    # Hang-ups only shorten the queue, so Erlang C's answer is enough; walk down from it while one fewer
    # agent still meets the target (a few steps), or up in the rare case rounding put it just short.
    n = required_agents(contacts, aht_seconds, target, answer_seconds, cap, 0.0).agents
    reading = erlang_a(contacts, aht_seconds, n, patience_seconds, answer_seconds)
    while n < MAX_AGENTS and not meets(reading):
        n += 1
        reading = erlang_a(contacts, aht_seconds, n, patience_seconds, answer_seconds)
    while n > 1:
        fewer = erlang_a(contacts, aht_seconds, n - 1, patience_seconds, answer_seconds)
        if not meets(fewer):
            break
        n, reading = n - 1, fewer
    return n, reading


# ---- arrivals that are not steady within the hour -------------------------------------------------
# An hourly plan meets the hour's average; real arrivals bunch within it (a 5-minute surge after a
# mailing, the first minutes after opening). On a bank's 5-minute call counts, an hourly Erlang A plan
# promised 0.809 and a replay of the real arrivals gave 0.745 (bench/staffing.py). The plan below asks
# the same question of each of the last days' within-hour patterns: the service level the roster
# gives when the forecast hour's contacts arrive as they did that day, averaged over the days.

SLOT_MINUTES = (5, 15, 30)  # slot widths tried, finest first
# A width is used only when the history's median count per slot reaches this: below it the shares are
# mostly Poisson noise, which Erlang A already accounts for, and reading it as a pattern over-staffs.
MIN_SLOT_CONTACTS = 20
MIN_PATTERN_DAYS = 5  # days of an hour's history before its patterns are trusted
MAX_PATTERN_DAYS = 10  # the most recent days kept per hour (cost grows with them)


def intra_hour_patterns(arrivals: list[tuple[object, int, int]]) -> tuple[int | None, dict[int, list[tuple]]]:
    """From (day, hour, minute) of past arrivals: the slot width and, per hour of day, each recent day's
    shares of the hour's arrivals per slot. ``(None, {})`` when no width has enough contacts per slot."""
    per_hour: dict[tuple[object, int], list[int]] = {}
    for day, hour, minute in arrivals:
        per_hour.setdefault((day, int(hour)), []).append(min(max(int(minute), 0), 59))
    if not per_hour:
        return None, {}
    counts = sorted(len(m) for m in per_hour.values())
    median = counts[len(counts) // 2]
    width = next((w for w in SLOT_MINUTES if median / (60 // w) >= MIN_SLOT_CONTACTS), None)
    if width is None:
        return None, {}
    slots = 60 // width
    patterns: dict[int, list[tuple]] = {}
    for (day, hour), minutes in sorted(per_hour.items(), key=lambda item: str(item[0][0]), reverse=True):
        kept = patterns.setdefault(hour, [])
        if len(kept) >= MAX_PATTERN_DAYS:
            continue
        filled = [0] * slots
        for minute in minutes:
            filled[minute // width] += 1
        kept.append(tuple(c / len(minutes) for c in filled))
    return width, {h: p for h, p in patterns.items() if len(p) >= MIN_PATTERN_DAYS}


def intra_hour_service_level(contacts: float, aht_seconds: float, agents: int, patience_seconds: float,
                             answer_seconds: float, patterns: list[tuple]) -> float:
    """Arrival-weighted Erlang A service level over each slot of each pattern, averaged over the patterns."""
    if not patterns or not _positive(contacts):
        return erlang_a(contacts, aht_seconds, agents, patience_seconds, answer_seconds).service_level
    total = 0.0
    for shares in patterns:
        slots = len(shares)
        for share in shares:
            if share > 0:
                rate = round(float(contacts) * share * slots * 4) / 4  # per hour; quarter contacts are close enough
                total += share * _slot_service_level(rate, float(aht_seconds), int(agents), float(patience_seconds),
                                                     float(answer_seconds))
    return total / len(patterns)


@functools.lru_cache(maxsize=100_000)
def _slot_service_level(rate: float, aht_seconds: float, agents: int, patience_seconds: float,
                        answer_seconds: float) -> float:
    """Erlang A's service level, kept across a plan's rows: its hours and queues meet the same slot rates again."""
    return erlang_a(rate, aht_seconds, agents, patience_seconds, answer_seconds).service_level


def required_agents_intra_hour(contacts: float, aht_seconds: float, patience_seconds: float, patterns: list[tuple],
                               target_service_level: float = 0.8, answer_seconds: float = 20.0,
                               max_occupancy: float = 0.85) -> tuple[int, float]:
    """Fewest agents whose :func:`intra_hour_service_level` meets the target (never fewer than the hourly
    Erlang A answer with the occupancy cap), and that service level."""
    n, reading = required_agents_erlang_a(contacts, aht_seconds, patience_seconds, target_service_level,
                                          answer_seconds, max_occupancy)
    if n == 0 or not patterns:
        return n, reading.service_level
    target = min(max(float(target_service_level or 0.0), 0.0), 0.999999)
    level = intra_hour_service_level(contacts, aht_seconds, n, patience_seconds, answer_seconds, patterns)
    while n < MAX_AGENTS and level < target:
        n += 1
        level = intra_hour_service_level(contacts, aht_seconds, n, patience_seconds, answer_seconds, patterns)
    return n, level


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


def pick_patience(patience_by_queue: dict[tuple[str, str], float], patience_by_channel: dict[str, float],
                  channel: str, queue_id: str) -> tuple[float | None, str]:
    """The queue's own mean patience, else its channel's, else none (no abandoned calls to learn from)."""
    own = patience_by_queue.get((channel, queue_id))
    if own is not None and _positive(own):
        return float(own), "queue"
    pooled = patience_by_channel.get(channel)
    if pooled is not None and _positive(pooled):
        return float(pooled), "channel"
    return None, "none"


def plan_rows(forecast: list[dict], aht_by_queue: dict[tuple[str, str], float], aht_by_channel: dict[str, float],
              target_service_level: float = 0.8, answer_seconds: float = 20.0, max_occupancy: float = 0.85,
              shrinkage: float = 0.3, default_aht_seconds: float = 300.0,
              patience_by_queue: dict | None = None, patience_by_channel: dict | None = None,
              intra_hour: dict[str, tuple[int | None, dict[int, list[tuple]]]] | None = None) -> list[dict]:
    """One plan row per forecast hour: required and scheduled agents for the point forecast.

    ``forecast`` rows carry channel, queue_id, series_level, period_start, period_date, period_hour, yhat,
    yhat_upper and is_peak. The plan staffs the point forecast; ``forecast_contacts_upper``
    is kept beside it so a planner can see how much a bad hour could add. Queued channels get
    Erlang C's answer and, where the calls say how long callers wait before hanging up, Erlang A's
    beside it (``*_erlang_a``; with no patience estimate they equal Erlang C's). ``intra_hour`` (channel ->
    :func:`intra_hour_patterns`) adds the agents that hold the target under the channel's recent
    within-hour arrival patterns (``*_intra_hour``; empty where the history is too thin to show one).
    """
    out = []
    for row in forecast:
        channel, queue_id = str(row["channel"]), str(row["queue_id"])
        aht, source = pick_aht(aht_by_queue, aht_by_channel, channel, queue_id, default_aht_seconds)
        contacts = float(row["yhat"]) if _positive(row.get("yhat")) else 0.0
        patience, patience_source = pick_patience(patience_by_queue or {}, patience_by_channel or {}, channel,
                                                  queue_id)
        if channel in QUEUED_CHANNELS:
            req, method = required_agents(contacts, aht, target_service_level, answer_seconds, max_occupancy,
                                          shrinkage), "erlang_c"
            n_a, reading = required_agents_erlang_a(contacts, aht, patience or math.inf, target_service_level,
                                                    answer_seconds, max_occupancy)
            erlang_a_cols = {"required_agents_erlang_a": n_a,
                             "scheduled_agents_erlang_a": math.ceil(n_a / (1.0 - min(max(shrinkage, 0.0), 0.95))
                                                                    - 1e-9),
                             "expected_service_level_erlang_a": reading.service_level,
                             "expected_abandonment_erlang_a": reading.abandonment}
            width, by_hour = (intra_hour or {}).get(channel, (None, {}))
            patterns = by_hour.get(int(row["period_hour"])) if width and row.get("period_hour") is not None else None
            if patterns:
                n_i, level = required_agents_intra_hour(contacts, aht, patience or math.inf, patterns,
                                                        target_service_level, answer_seconds, max_occupancy)
                erlang_a_cols.update(intra_hour_slot_minutes=width, required_agents_intra_hour=n_i,
                                     expected_service_level_intra_hour=level)
        else:
            req, method = workload_agents(contacts, aht, max_occupancy, shrinkage), "workload"
            erlang_a_cols = {"required_agents_erlang_a": req.agents, "scheduled_agents_erlang_a": req.scheduled_agents,
                             "expected_service_level_erlang_a": None, "expected_abandonment_erlang_a": None}
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
            "patience_seconds": patience, "patience_source": patience_source, "intra_hour_slot_minutes": None,
            "required_agents_intra_hour": None, "expected_service_level_intra_hour": None, **erlang_a_cols,
        })
    return out


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


# ---- a discrete-event replay of a planned day ------------------------------------------------------


@dataclass(frozen=True)
class SimulatedInterval:
    """What the replays of one interval gave, pooled over replications."""

    offered: int
    answered_within: int
    abandoned: int

    @property
    def service_level(self) -> float:
        return self.answered_within / self.offered if self.offered else 1.0

    @property
    def abandonment(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0


def simulate_day(intervals: list[tuple[float, int]], aht_seconds: float, patience_seconds: float,
                 answer_seconds: float, replications: int = 200, seed: int = 7,
                 period_seconds: float = 3600.0) -> list[SimulatedInterval]:
    """Replay a day's plan: Poisson arrivals at each interval's forecast, exponential handle times and
    patience, the interval's agents on the phones, one FIFO queue carried across interval boundaries.

    Why a simulation beside the formula: Erlang A (and C) assume each interval is in steady state on
    its own; a real day starts empty, carries its queue over when the roster drops, and has agents
    finish their call before they leave. The replay runs the plan through that day and says whether
    the service level it promised holds. ``intervals`` is (offered contacts, agents) per period.
    Contacts are counted in the interval they arrive in.
    """
    import heapq
    import random

    rng = random.Random(seed)
    mean_patience = float(patience_seconds) if _positive(patience_seconds) and math.isfinite(
        float(patience_seconds)) else math.inf
    totals = [[0, 0, 0] for _ in intervals]
    for _ in range(max(1, int(replications))):
        # (time, order, kind, payload): kind 0 = agent frees up, 1 = arrival, 2 = interval boundary
        events: list[tuple[float, int, int, int]] = []
        order = 0
        for i, (contacts, _) in enumerate(intervals):
            start = i * period_seconds
            heapq.heappush(events, (start, order, 2, i))
            order += 1
            rate = float(contacts) / period_seconds if _positive(contacts) else 0.0
            t = start
            while rate > 0:
                t += rng.expovariate(rate)
                if t >= start + period_seconds:
                    break
                heapq.heappush(events, (t, order, 1, i))
                order += 1
        staffed, busy = 0, 0
        queue: list[tuple[float, float, int]] = []  # (arrival, deadline, interval), FIFO
        head = 0
        while events:
            now, _, kind, payload = heapq.heappop(events)
            if kind == 2:
                staffed = int(intervals[payload][1])
            elif kind == 1:
                totals[payload][0] += 1
                patience = rng.expovariate(1.0 / mean_patience) if math.isfinite(mean_patience) else math.inf
                queue.append((now, now + patience, payload))
            else:
                busy -= 1
            # answer whoever is still waiting, in order, while an agent is free (roster drops: no new calls)
            while busy < staffed and head < len(queue):
                arrived, deadline, interval = queue[head]
                head += 1
                if deadline < now:
                    totals[interval][2] += 1
                    continue
                if now - arrived <= answer_seconds:
                    totals[interval][1] += 1
                busy += 1
                heapq.heappush(events, (now + rng.expovariate(1.0 / aht_seconds), order, 0, 0))
                order += 1
            if head > 1024 and head * 2 > len(queue):
                queue, head = queue[head:], 0
        for arrived, deadline, interval in queue[head:]:  # the day ends: still waiting counts as lost
            totals[interval][2] += 1
    return [SimulatedInterval(*t) for t in totals]
