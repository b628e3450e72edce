-- Answers the company has already given: for each contact that ended resolved, the customer's first
-- question (its embedding from the encoder in use) and the agent's fullest reply after it. The live
-- answer view offers the reply of the nearest past question, cited by its conversation, so a company
-- with no knowledge base and no labels still gets answers on day one. Text is PII-masked in staging.
with

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

questions as (
    select * from {{ ref('int_ml__first_customer_messages') }}
),

first_customer_turn as (
    select
        conversation_id,
        min(turn_index) as question_turn
    from turns
    where speaker = 'customer'
    group by conversation_id
),

encoder as (
    select model_version
    from {{ source('ml', 'ml_model_runs') }}
    where task = 'embeddings' and is_current
),

embeddings as (
    select contact_embeddings.*
    from {{ source('ml', 'contact_embeddings') }} as contact_embeddings
    inner join encoder using (model_version)
),

-- Evidence that the reply settled the question: a "resolved" wrap-up code, or, where the export has no
-- wrap-up codes (social and chat exports), a contact that was neither transferred nor abandoned and
-- after which the customer did not come back within the repeat-contact window.
resolved as (
    select
        conversation_id,
        started_at,
        case
            when disposition = 'resolved' then 'closed as resolved'
            else 'no repeat contact within {{ var("fcr_window_days") }} days'
        end as resolution_evidence
    from conversations
    where not is_abandoned
        and (
            disposition = 'resolved'
            or (coalesce(disposition, 'unknown') = 'unknown' and not is_transferred and not has_repeat_contact)
        )
),

-- Agent turns after the question. Leading @mentions address that customer (social replies) and are
-- dropped, so the reply can be offered to someone else.
agent_replies as (
    select
        turns.conversation_id,
        turns.turn_index,
        trim(regexp_replace(coalesce(turns.text, ''), '^\s*((@[^\s]+|\[HANDLE\])[\s,:]*)+', '')) as reply
    from turns
    inner join first_customer_turn
        on turns.conversation_id = first_customer_turn.conversation_id
        and turns.turn_index > first_customer_turn.question_turn
    where turns.speaker = 'agent'
),

-- The fullest of them: greetings and "one moment" lines are short, the answer is usually the
-- longest thing the agent wrote.
replies as (
    select
        conversation_id,
        turn_index as answer_turn,
        reply as answer
    from agent_replies
    where length(reply) >= {{ var('min_answer_chars') }}
    qualify row_number() over (partition by conversation_id order by length(reply) desc, turn_index) = 1
),

languages as (
    select
        conversation_id,
        turn_index,
        source_language
    from {{ ref('fct_turn_translations') }}
),

final as (
    select
        resolved.conversation_id,
        resolved.started_at,
        resolved.resolution_evidence,
        questions.text as question,
        replies.answer_turn,
        replies.answer,
        coalesce(languages.source_language, 'und') as answer_language,
        intents.intent_of_record as intent,
        intents.intent_source,
        embeddings.model_version,
        embeddings.embedding
    from resolved
    inner join questions using (conversation_id)
    inner join replies using (conversation_id)
    inner join embeddings using (conversation_id)
    left join languages
        on replies.conversation_id = languages.conversation_id
        and replies.answer_turn = languages.turn_index
    left join {{ ref('fct_conversation_intents') }} as intents
        on resolved.conversation_id = intents.conversation_id
)

select * from final
