"""The plan's first forecast day replayed in a discrete-event simulation: does the promised service level hold?

Why: Erlang A and C treat every hour as a steady state of its own. A real day starts with an empty
queue, carries callers over when the roster drops at the top of an hour, and lets agents finish the
call they are on. ``ml.staffing.simulate_day`` replays the day `replications` times with Poisson
arrivals at the forecast, exponential handle times at the plan's AHT and exponential patience at
the plan's estimate, and the Erlang A roster on the phones; each row puts the hour's simulated
service level and abandonment beside what the plan predicted. Queued channels only (e-mail has no
answer-time target).
"""

import pandas as pd

from ml.forecasting import clamp_int
from ml.staffing import simulate_day

COLUMNS = ("channel", "queue_id", "series_level", "period_start", "period_hour", "forecast_contacts",
           "required_agents_erlang_a", "required_agents", "aht_seconds", "patience_seconds",
           "expected_service_level_erlang_a", "simulated_service_level", "expected_abandonment_erlang_a",
           "simulated_abandonment", "simulated_contacts", "replications", "service_level_target")


def model(dbt, session):
    dbt.config(materialized="table")
    replications = clamp_int(dbt.config.get("replications"), 200, 10, 10_000)
    plan = dbt.ref("fct_staffing_plan").df()
    plan = plan[plan["method"] == "erlang_c"]
    rows = []
    if len(plan):
        first_day = plan["period_date"].min()
        plan = plan[plan["period_date"] == first_day].sort_values(["channel", "queue_id", "period_start"])
        for (channel, queue_id), hours in plan.groupby(["channel", "queue_id"], sort=True):
            hours = hours.sort_values("period_start")
            aht = float(hours["aht_seconds"].iloc[0])
            patience = hours["patience_seconds"].iloc[0]
            patience = float(patience) if pd.notna(patience) else float("inf")
            answer = float(hours["answer_seconds"].iloc[0])
            intervals = [(float(c), int(n)) for c, n in zip(hours["forecast_contacts"], hours["required_agents_erlang_a"])]
            simulated = simulate_day(intervals, aht, patience, answer, replications=replications)
            for (_, hour), sim in zip(hours.iterrows(), simulated):
                rows.append({
                    "channel": channel, "queue_id": queue_id, "series_level": hour["series_level"],
                    "period_start": hour["period_start"], "period_hour": hour["period_hour"],
                    "forecast_contacts": hour["forecast_contacts"],
                    "required_agents_erlang_a": hour["required_agents_erlang_a"],
                    "required_agents": hour["required_agents"], "aht_seconds": aht,
                    "patience_seconds": None if patience == float("inf") else patience,
                    "expected_service_level_erlang_a": hour["expected_service_level_erlang_a"],
                    "simulated_service_level": sim.service_level if sim.offered else None,
                    "expected_abandonment_erlang_a": hour["expected_abandonment_erlang_a"],
                    "simulated_abandonment": sim.abandonment if sim.offered else None,
                    "simulated_contacts": sim.offered, "replications": replications,
                    "service_level_target": hour["service_level_target"],
                })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in ("period_hour", "required_agents_erlang_a", "required_agents", "simulated_contacts", "replications"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    for name in ("forecast_contacts", "aht_seconds", "patience_seconds", "expected_service_level_erlang_a",
                 "simulated_service_level", "expected_abandonment_erlang_a", "simulated_abandonment",
                 "service_level_target"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Float64")
    for name in ("channel", "queue_id", "series_level"):
        frame[name] = frame[name].astype("string")
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[us]")
    return frame
