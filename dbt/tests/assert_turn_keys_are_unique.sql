-- Staging removes re-exported utterances: (conversation_id, turn_index) is a key.
select
    conversation_id,
    turn_index,
    count(*) as copies
from {{ ref('stg_raw__turns') }}
group by conversation_id, turn_index
having count(*) > 1
