-- No e-mail address, resident ID number or mainland mobile number survives into the marts.
select
    conversation_id,
    turn_index,
    text
from {{ ref('fct_turns') }}
where regexp_matches(text, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}')
    or regexp_matches(text, '\b\d{17}[\dXx]\b')
    or regexp_matches(text, '\b1[3-9]\d{9}\b')
