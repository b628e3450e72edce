"""Does the staffing plan hold? Erlang A and Erlang C against a discrete-event replay, on steady hours and on
a real bank's arrivals.

    python bench/staffing.py [--replications 100] [--days 20] [--aht 240] [--patience 180]

1. Steady hours (a grid of volumes, handle times and patience): the agents Erlang A and Erlang C put on
   the phones for 80% in 20 s, the service level each promises, what ``ml.staffing.simulate_day``
   replays for the same roster (hours 2-8 of a steady day), and the fewest agents the replay needs.
2. Real arrivals: the last ``--days`` weekdays of the North American bank's 5-minute call counts
   (../shared/data/bank_calls_5min, fpp2): each hour staffed by Erlang A from its actual volume (a
   perfect forecast), then the day replayed with arrivals at each 5-minute interval's real rate, so
   the plan meets the within-hour swings it assumed away; then each hour planned on the within-hour
   patterns of the 20 days before (``ml.staffing.required_agents_intra_hour``) and replayed the same way.
   The data hold no handle times or hang-ups:
   AHT and mean patience are the flags' values, said in the output.
Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml import staffing as st  # noqa: E402

BANK = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "bank_calls_5min" / "calls.csv"
TARGET, ANSWER = 0.8, 20.0


def steady(replications: int) -> None:
    print("1. steady hours, 80% in 20 s: agents and service level, formula vs replay (hours 2-8 of 8)")
    print(f"{'calls/h':>7} {'AHT':>4} {'pat.':>5} | {'A: n':>4} {'SL':>6} {'replay':>6} {'min n':>5} | "
          f"{'C: n':>4} {'SL(C)':>6} {'replay':>6} | {'aband. A':>8} {'replay':>6}")
    gaps, headcount = [], []
    for contacts, aht, patience in ((60, 300, 120), (120, 300, 180), (240, 240, 120), (400, 180, 90),
                                    (800, 300, 300), (1500, 240, 60)):
        n, reading = st.required_agents_erlang_a(contacts, aht, patience, TARGET, ANSWER, 1.0)
        n_c = st.required_agents(contacts, aht, TARGET, ANSWER, 1.0, 0.0).agents

        def replay(agents: int) -> tuple[float, float]:
            sim = st.simulate_day([(contacts, agents)] * 8, aht, patience, ANSWER, replications, seed=5)[1:]
            offered = sum(s.offered for s in sim)
            return sum(s.answered_within for s in sim) / offered, sum(s.abandoned for s in sim) / offered

        sl_a, ab_a = replay(n)
        sl_c, _ = replay(n_c)
        smallest = min((a for a in range(max(1, n - 3), n + 4) if replay(a)[0] >= TARGET), default=None)
        gaps.append(abs(sl_a - reading.service_level))
        headcount.append(abs((smallest or n + 4) - n))
        print(f"{contacts:7d} {aht:4d} {patience:5d} | {n:4d} {reading.service_level:6.3f} {sl_a:6.3f} "
              f"{smallest if smallest is not None else '>n+3':>5} | {n_c:4d} "
              f"{st.service_level(contacts, aht, n_c, ANSWER):6.3f} {sl_c:6.3f} | {reading.abandonment:8.3f} "
              f"{ab_a:6.3f}")
    print(f"   largest |replayed - planned| service level: {max(gaps) * 100:.1f} points; largest headcount gap: "
          f"{max(headcount)} agent(s)")


def bank(days: int, aht: float, patience: float, replications: int) -> None:
    if not BANK.exists():
        print(f"2. real arrivals: {BANK} is absent, skipped")
        return
    per_day: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with BANK.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            per_day[row["interval_start"][:10]].append((row["interval_start"], int(row["calls"])))
    chosen = sorted(per_day)[-days:]
    print(f"\n2. real arrivals: the last {len(chosen)} days of bank_calls_5min, AHT {aht:.0f} s and mean patience "
          f"{patience:.0f} s assumed (the data hold counts only), each hour staffed by Erlang A from its own volume")
    planned_all, replayed_all, agent_hours_a, agent_hours_c, gaps = 0.0, 0.0, 0, 0, []
    offered_all = 0
    within = [0.0, 0.0, 0, []]  # planned x offered, replayed x offered, agent-hours, gaps: the within-hour plan
    days_all = sorted(per_day)
    for day in chosen:
        # The within-hour plan learns each hour's patterns from the days before this one only.
        history = days_all[max(0, days_all.index(day) - 20):days_all.index(day)]
        arrivals = [(d, int(start[11:13]), int(start[14:16])) for d in history for start, calls in per_day[d]
                    for _ in range(calls)]
        _, patterns = st.intra_hour_patterns(arrivals)
        intervals = sorted(per_day[day])
        hourly: dict[str, int] = defaultdict(int)
        for start, calls in intervals:
            hourly[start[11:13]] += calls
        roster = {h: st.required_agents_erlang_a(c, aht, patience, TARGET, ANSWER, 1.0) for h, c in hourly.items()}
        agent_hours_a += sum(n for n, _ in roster.values())
        agent_hours_c += sum(st.required_agents(c, aht, TARGET, ANSWER, 1.0, 0.0).agents for c in hourly.values())
        five = [(calls, roster[start[11:13]][0]) for start, calls in intervals]  # each 5 minutes at its own rate
        sim = st.simulate_day(five, aht, patience, ANSWER, replications, seed=3, period_seconds=300.0)
        offered = sum(s.offered for s in sim)
        replayed = sum(s.answered_within for s in sim) / offered
        planned = sum(roster[h][1].service_level * c for h, c in hourly.items()) / sum(hourly.values())
        gaps.append(replayed - planned)
        planned_all += planned * offered
        replayed_all += replayed * offered
        offered_all += offered
        inner = {h: st.required_agents_intra_hour(c, aht, patience, patterns.get(int(h), []), TARGET, ANSWER, 1.0)
                 for h, c in hourly.items()}
        sim = st.simulate_day([(calls, inner[start[11:13]][0]) for start, calls in intervals], aht, patience, ANSWER,
                              replications, seed=3, period_seconds=300.0)
        inner_replayed = sum(s.answered_within for s in sim) / offered
        inner_planned = sum(inner[h][1] * c for h, c in hourly.items()) / sum(hourly.values())
        within[0] += inner_planned * offered
        within[1] += inner_replayed * offered
        within[2] += sum(n for n, _ in inner.values())
        within[3].append(inner_replayed - inner_planned)
    print(f"   service level planned {planned_all / offered_all:.3f}, replayed {replayed_all / offered_all:.3f} "
          f"(mean gap {sum(gaps) / len(gaps) * 100:+.1f} points, worst day {min(gaps) * 100:+.1f}); agent-hours "
          f"Erlang A {agent_hours_a:,} vs Erlang C {agent_hours_c:,} ({agent_hours_c / agent_hours_a - 1:+.1%})")
    print(f"   planned on the within-hour patterns of the 20 days before each day (ml.staffing.required_agents_"
          f"intra_hour): planned {within[0] / offered_all:.3f}, replayed {within[1] / offered_all:.3f} (mean gap "
          f"{sum(within[3]) / len(within[3]) * 100:+.1f} points, worst day {min(within[3]) * 100:+.1f}); agent-hours "
          f"{within[2]:,} ({within[2] / agent_hours_a - 1:+.1%} on the hourly Erlang A plan)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--aht", type=float, default=240.0)
    parser.add_argument("--patience", type=float, default=180.0)
    args = parser.parse_args()
    start = time.perf_counter()
    steady(args.replications)
    bank(args.days, args.aht, args.patience, max(10, args.replications // 5))
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
