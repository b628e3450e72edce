-- Trainee simulator sessions, the latest export of each. The transcript holds what trainees typed:
-- it is masked like any conversation text.
select
    session_id,
    trainee,
    started_at,
    ended_at,
    cast(started_at as date) as started_date,
    persona_id,
    conversation_id,
    intent,
    language,
    difficulty,
    coalesce(replies, 0) as replies,
    goal_met,
    coalesce(customer_left, false) as customer_left,
    policy_compliant,
    empathy_shown,
    de_escalated,
    final_mood,
    score,
    coalesce(picked_by, 'trainee') as picked_by,
    {{ mask_pii('transcript') }} as transcript
from {{ source('raw', 'training_sessions') }}
qualify row_number() over (partition by session_id order by {{ latest_first() }}) = 1
