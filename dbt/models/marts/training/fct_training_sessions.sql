-- One row per practice session with the simulated customer, and where it stands in the trainee's
-- own history (the n-th session, the success rate over the last few, whether that passes the bar).
with

sessions as (
    select
        *,
        goal_met and coalesce(policy_compliant, true) as is_success,
        {{ seconds_between('started_at', 'ended_at') }} as session_seconds,
        row_number() over (partition by trainee order by started_at, session_id) as session_number
    from {{ ref('stg_raw__training_sessions') }}
),

rolling as (
    select
        *,
        avg(is_success::int) over recent as recent_success_rate,
        count(*) over recent as recent_sessions
    from sessions
    window recent as (partition by trainee order by session_number
                      rows between {{ var('training_bar_window') - 1 }} preceding and current row)
)

select
    session_id,
    trainee,
    started_at,
    ended_at,
    started_date,
    session_seconds,
    session_number,
    persona_id,
    conversation_id,
    intent,
    language,
    difficulty,
    picked_by,
    replies,
    goal_met,
    customer_left,
    policy_compliant,
    empathy_shown,
    de_escalated,
    final_mood,
    score,
    is_success,
    recent_success_rate,
    recent_sessions = {{ var('training_bar_window') }}
        and recent_success_rate >= {{ var('training_bar_success') }} as at_bar,
    transcript
from rolling
