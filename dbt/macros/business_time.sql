{#- A business-time-zone timestamp (how the warehouse stores event times) as a UTC timestamp. Arithmetic on
    the UTC value is exact across daylight-saving changes, where local wall-clock times repeat or skip. The
    zone is passed in by the model (`var('business_timezone')` read there, so unit tests can override it). -#}
{% macro business_to_utc(expression, zone) -%}
    {{ wall_clock_to_utc(expression, zone) }}
{%- endmacro %}

{#- Seconds of the span [from_utc, to_utc] that fall inside one open interval of a CTE of
    `int_calendar__open_intervals` rows (`intervals`); a model joins the intervals that overlap the span and adds
    these up. A join, not a correlated subquery per row: Spark cannot aggregate outer values in a subquery, and
    one join over all spans is cheaper on both engines. -#}
{% macro interval_overlap_seconds(from_utc, to_utc, intervals='open_intervals') -%}
    ({{ epoch_seconds('least(' ~ to_utc ~ ', ' ~ intervals ~ '.closes_utc)') }}
        - {{ epoch_seconds('greatest(' ~ from_utc ~ ', ' ~ intervals ~ '.opens_utc)') }})
{%- endmacro %}

{#- Wall-clock seconds from start to end (business-time-zone timestamps), exact across daylight-saving changes. -#}
{% macro elapsed_seconds(start, end, zone) -%}
    ({{ epoch_seconds(business_to_utc(end, zone)) }} - {{ epoch_seconds(business_to_utc(start, zone)) }})
{%- endmacro %}
