{% set negative = "('angry', 'anxious')" %}
{#- The first turn of each agent act the checks look for: (act, column). -#}
{%- set first_turn_of_act = [
    ('greeting', 'greeting_turn'), ('identity_check', 'identity_turn'), ('disclosure', 'disclosure_turn'),
    ('solution', 'solution_turn'), ('ticket', 'ticket_turn'), ('forbidden', 'forbidden_turn'),
    ('hold_request', 'hold_request_turn'), ('hold_return', 'hold_return_turn'),
    ('resolution_confirm', 'confirm_turn'), ('closing', 'closing_turn'), ('empathy', 'first_empathy_turn'),
] %}
with

turns as (
    select * from {{ ref('int_turns__enriched') }}
),

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

intents as (
    select * from {{ ref('fct_conversation_intents') }}
),

intent_categories as (
    select distinct
        kb.intent,
        teams.category
    from {{ ref('stg_raw__kb_articles') }} as kb
    inner join {{ ref('stg_raw__teams') }} as teams using (team_id)
),

forbidden_phrases as (
    select * from {{ ref('qa_forbidden_phrases') }}
),

phrase_hits as (
    select
        turns.conversation_id,
        min(turns.turn_index) as phrase_turn
    from turns
    inner join forbidden_phrases
        on turns.speaker = 'agent'
        and contains(lower(turns.text), lower(forbidden_phrases.phrase))
    group by turns.conversation_id
),

solution_checks as (
    {{ current_predictions(source('ml', 'solution_checks'), 'embeddings', ['conversation_id', 'turn_index']) }}
),

first_reply as (
    select
        conversation_id,
        min(turn_index) filter (
            where speaker = 'agent' and turn_index > (
                select min(t2.turn_index) from turns as t2
                where t2.conversation_id = t.conversation_id and t2.speaker = 'customer'
            )
        ) as first_reply_turn
    from turns as t
    group by conversation_id
),

per_conversation as (
    select
        conversation_id,
        min(turn_index) filter (where speaker = 'customer') as first_customer_turn,
        min(turn_index) filter (where speaker = 'agent') as first_agent_turn,
        max(turn_index) as last_turn,
        max(turn_index) filter (where speaker = 'customer') as last_customer_turn,
        {%- for act, column in first_turn_of_act %}
        min(turn_index) filter (where act = '{{ act }}') as {{ column }},
        {%- endfor %}
        min(turn_index) filter (
            where speaker = 'customer' and customer_turn_number = 1
        ) as opening_turn,
        bool_or(is_negative) filter (where speaker = 'customer' and customer_turn_number = 1) as opening_negative,
        -- "Turns negative mid-conversation": after the opening, before the customer's last word.
        min(turn_index) filter (
            where speaker = 'customer' and is_negative
                and customer_turn_number > 1 and customer_turn_number < customer_turns
        ) as negative_turn,
        -- A long silence in a chat, other than the wait for the first answer, is a hold.
        min(turn_index) filter (
            where seconds_since_previous >= {{ var('qa_chat_hold_gap_seconds') }} and speaker = 'agent'
                and turn_index > first_reply_turn
        ) as long_gap_turn,
        count(act) as agent_turns_read,
        count(*) filter (where speaker = 'agent') as agent_turns
    from turns
    inner join first_reply using (conversation_id)
    group by conversation_id
),

facts as (
    select
        -- conversation_id comes with p.* (joined on it): one column of that name, as Spark requires.
        c.channel,
        c.first_response_seconds,
        coalesce(c.hold_seconds, 0) as hold_seconds,
        p.*,
        intents.intent_of_record,
        intents.few_shot_top_intents,
        intent_categories.category as intent_category,
        (
            select min(t.turn_index)
            from turns as t
            where t.conversation_id = c.conversation_id and t.act = 'empathy'
                and t.turn_index > p.first_customer_turn
                and t.turn_index < coalesce(p.solution_turn, p.ticket_turn, p.last_turn + 1)
        ) as empathy_turn,
        (
            select min(t.turn_index)
            from turns as t
            where t.conversation_id = c.conversation_id and t.act = 'empathy'
                and t.turn_index > p.negative_turn and t.turn_index <= p.negative_turn + 3
        ) as handled_turn,
        solution_checks.matched_intent as solution_intent,
        least(p.forbidden_turn, phrase_hits.phrase_turn) as offending_turn
    from conversations as c
    inner join per_conversation as p using (conversation_id)
    left join phrase_hits using (conversation_id)
    left join intents using (conversation_id)
    left join intent_categories on intents.intent_of_record = intent_categories.intent
    left join solution_checks
        on solution_checks.conversation_id = c.conversation_id
        and solution_checks.turn_index = p.solution_turn
    -- Every answered contact is inspected; without quality-act readings (no model trained on reviewed
    -- turns yet) only the checks that need none are measured (see final).
    where not c.is_abandoned and p.agent_turns > 0
),

checks as (
    {% set max_rt = var('qa_max_first_response_seconds') %}
    select conversation_id, 'greeting' as dimension, true as applicable,
        greeting_turn is not null as passed,
        coalesce(greeting_turn, first_agent_turn) as evidence_turn, 'quality-act model' as method
    from facts
    union all
    select conversation_id, 'identity_check', intent_category in (
            {%- for c in var('qa_identity_check_categories') %}'{{ c }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        ),
        identity_turn is not null, coalesce(identity_turn, first_customer_turn + 1), 'quality-act model + intent'
    from facts
    union all
    select conversation_id, 'empathy', coalesce(opening_negative, false),
        empathy_turn is not null, coalesce(empathy_turn, opening_turn), 'emotion + quality-act models'
    from facts
    union all
    -- The answer must match an intent the customer's message can plausibly be about: the intent
    -- of record or one of the three nearest by embeddings (a wrong answer is rarely among them,
    -- an uncertain intent often is).
    select conversation_id, 'correct_information', solution_turn is not null and solution_intent is not null,
        solution_intent = intent_of_record or coalesce(array_contains(few_shot_top_intents, solution_intent), false),
        solution_turn, 'quality-act model (the solution turn) + embedding match of the answer to the knowledge base'
    from facts
    union all
    select conversation_id, 'disclosure', channel = 'phone',
        disclosure_turn is not null, coalesce(disclosure_turn, 0), 'quality-act model'
    from facts
    union all
    select conversation_id, 'forbidden_language', true,
        offending_turn is null, offending_turn,
        case when agent_turns_read > 0 then 'quality-act model + phrase list (seed qa_forbidden_phrases)'
            else 'phrase list (seed qa_forbidden_phrases)' end
    from facts
    union all
    select conversation_id, 'hold_etiquette',
        hold_seconds > 0 or hold_request_turn is not null or (channel = 'chat' and long_gap_turn is not null),
        hold_request_turn is not null and hold_return_turn > hold_request_turn,
        coalesce(hold_return_turn, hold_request_turn, long_gap_turn), 'quality-act model + hold time'
    from facts
    union all
    select conversation_id, 'solution_offered', true,
        solution_turn is not null, coalesce(solution_turn, ticket_turn, last_turn), 'quality-act model'
    from facts
    union all
    select conversation_id, 'resolution_confirmed', true,
        confirm_turn is not null, coalesce(confirm_turn, last_turn), 'quality-act model'
    from facts
    union all
    select conversation_id, 'closing', true,
        closing_turn is not null, coalesce(closing_turn, last_turn), 'quality-act model'
    from facts
    union all
    select conversation_id, 'response_time', first_response_seconds is not null,
        first_response_seconds <= case channel
            {%- for ch, limit in max_rt.items() %} when '{{ ch }}' then {{ limit }}{% endfor %} else {{ max_rt['chat'] }} end,
        first_customer_turn + 1, 'rule: first response time per channel'
    from facts
    union all
    select conversation_id, 'emotion_handling', negative_turn is not null,
        handled_turn is not null, coalesce(handled_turn, negative_turn), 'emotion + quality-act models'
    from facts
),

-- A check that reads quality acts is not measured on a contact whose agent turns have no act
-- reading: it is neither passed nor failed (not a silent fail for every contact before the model).
measured as (
    select
        checks.*,
        facts.agent_turns_read > 0 or checks.method not like '%quality-act%' as is_measured
    from checks
    inner join facts using (conversation_id)
),

final as (
    select
        conversation_id,
        dimension,
        is_measured as measured,
        is_measured and coalesce(applicable, false) as applicable,
        case when is_measured and coalesce(applicable, false) then coalesce(passed, false) end as passed,
        case when is_measured and coalesce(applicable, false) then evidence_turn end as evidence_turn_index,
        method
    from measured
)

select * from final
