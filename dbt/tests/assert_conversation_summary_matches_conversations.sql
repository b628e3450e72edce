-- The conversation export neither loses nor repeats a conversation, and its figures are the contact marts'.
with summary as (
    select
        count(*) as conversations,
        count(distinct conversation_id) as distinct_conversations,
        sum(handle_seconds) as handle_seconds,
        count(*) filter (where is_first_contact_resolution) as resolved_first_time
    from {{ ref('fct_conversation_summary') }}
),

conversations as (
    select
        count(*) as conversations,
        sum(handle_seconds) as handle_seconds,
        count(*) filter (where is_first_contact_resolution) as resolved_first_time
    from {{ ref('fct_conversations') }}
)

select *
from summary
cross join conversations as c
where summary.conversations <> c.conversations
    or summary.distinct_conversations <> c.conversations
    or summary.handle_seconds is distinct from c.handle_seconds
    or summary.resolved_first_time <> c.resolved_first_time
