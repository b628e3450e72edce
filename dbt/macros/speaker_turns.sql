{#-
  The body of the int_ml__ input views of the text models (ml/tasks.py): the (PII-masked) text
  of every turn one side of the conversation wrote, keyed by conversation and turn. With
  first_only, the first such turn of each conversation, keyed by conversation alone (what the
  conversation-level models score). The views differ only in these two arguments.
-#}
{% macro speaker_turns(speaker, first_only=false) -%}
with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

final as (
    select
        conversation_id,
        {%- if not first_only %}
        turn_index,
        {%- endif %}
        text
    from turns
    where speaker = '{{ speaker }}'
    {%- if first_only %}
    qualify row_number() over (partition by conversation_id order by turn_index) = 1
    {%- endif %}
)

select * from final
{%- endmacro %}
