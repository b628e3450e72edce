-- One row per trainee: how far they are, and how long they took to reach the bar (sessions and days
-- from their first session), the figure a cohort is compared on.
with

per_trainee as (
    select
        trainee,
        min(started_at) as first_session_at,
        max(started_at) as last_session_at,
        count(*) as sessions,
        avg(is_success::int) as success_rate,
        avg(score) as mean_score,
        max(difficulty) filter (where is_success) as hardest_passed,
        min(session_number) filter (where at_bar) as sessions_to_bar,
        min(started_at) filter (where at_bar) as reached_bar_at,
        max_by(recent_success_rate, session_number) as recent_success_rate,
        max_by(at_bar, session_number) as at_bar_now
    from {{ ref('fct_training_sessions') }}
    group by trainee
)

select
    trainee,
    first_session_at,
    last_session_at,
    sessions,
    success_rate,
    mean_score,
    hardest_passed,
    recent_success_rate,
    at_bar_now,
    reached_bar_at,
    sessions_to_bar,
    {{ days_between('first_session_at', 'reached_bar_at') }} as days_to_bar
from per_trainee
