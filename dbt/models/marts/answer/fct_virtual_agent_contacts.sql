-- One row per contact a bot took part in (any bot turn: the platform's virtual agent or a chatbot in an
-- export): was it contained (no person had to step in), and if not, why the bot handed over.
with

per_contact as (
    select
        conversation_id,
        count(*) filter (where speaker = 'bot') as bot_turns,
        count(*) filter (where speaker = 'customer') as customer_turns,
        count(*) filter (where speaker = 'agent') as agent_turns,
        -- The virtual agent writes '[hand-over] reason; reason' as a system turn where it handed over.
        count(*) filter (where speaker = 'system' and starts_with(text, '[hand-over]')) as handover_turns,
        flatten(list(string_split(trim(substr(text, length('[hand-over]') + 1)), '; ') order by turn_index)
            filter (where speaker = 'system' and starts_with(text, '[hand-over]'))) as recorded_reasons
    from {{ ref('stg_raw__turns') }}
    group by conversation_id
    having count(*) filter (where speaker = 'bot') > 0
),

judged as (
    select
        c.*,
        p.bot_turns,
        p.customer_turns,
        p.agent_turns,
        p.recorded_reasons,
        c.transfer_count > 0 or p.agent_turns > 0 or p.handover_turns > 0 as is_handed_over
    from {{ ref('fct_conversations') }} as c
    join per_contact as p using (conversation_id)
)

select
    conversation_id,
    started_at,
    started_date,
    channel,
    queue_id,
    queue_id = '{{ var("virtual_agent_queue") }}' as is_virtual_agent,
    ui_locale as language,
    customer_turns,
    bot_turns,
    agent_turns,
    is_handed_over,
    not (is_handed_over or coalesce(is_abandoned, false)) as is_contained,
    case
        when not is_handed_over then null
        when len(recorded_reasons) > 0 then list_sort(list_distinct(recorded_reasons))
        else ['not recorded by the bot']
    end as handover_reasons,
    csat,
    handle_seconds
from judged
