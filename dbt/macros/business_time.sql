{#- A business-time-zone timestamp (how the warehouse stores event times) as a UTC timestamp. Arithmetic on
    the UTC value is exact across daylight-saving changes, where local wall-clock times repeat or skip. The
    zone is passed in by the model (`var('business_timezone')` read there, so unit tests can override it). -#}
{% macro business_to_utc(expression, zone) -%}
    timezone('UTC', timezone('{{ zone }}', {{ expression }}))
{%- endmacro %}

{#- Seconds of [start, end] (business-time-zone timestamps) that fall inside the queue's open hours, read from
    a CTE of `int_calendar__open_intervals` rows named `intervals`. -#}
{% macro business_seconds(start, end, queue, zone, intervals='open_intervals') -%}
    (
        select coalesce(sum(
            epoch(least({{ business_to_utc(end, zone) }}, {{ intervals }}.closes_utc))
            - epoch(greatest({{ business_to_utc(start, zone) }}, {{ intervals }}.opens_utc))), 0)
        from {{ intervals }}
        where {{ intervals }}.queue_id = coalesce({{ queue }}, '*')
            and {{ intervals }}.opens_utc < {{ business_to_utc(end, zone) }}
            and {{ intervals }}.closes_utc > {{ business_to_utc(start, zone) }}
    )
{%- endmacro %}

{#- Wall-clock seconds from start to end (business-time-zone timestamps), exact across daylight-saving changes. -#}
{% macro elapsed_seconds(start, end, zone) -%}
    (epoch({{ business_to_utc(end, zone) }}) - epoch({{ business_to_utc(start, zone) }}))
{%- endmacro %}
