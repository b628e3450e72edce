{#-
  The few expressions DuckDB and Spark SQL spell differently, behind dbt's adapter dispatch: the models
  call these, `default__` is the embedded DuckDB target and `spark__` the Spark target (profiles.yml).
  Everything else in the models is SQL both engines read alike (the Spark Thrift server runs with
  backslashes kept in string literals and "quoted" names as identifiers: service_insight/spark_cluster.py).
  Each pair must return the same values; tests/test_distributed.py builds the marts on both and compares.
-#}

{#- A text split at a literal separator, as a list of texts. -#}
{% macro split_text(text_expr, separator) -%}
{{ return(adapter.dispatch('split_text', 'service_insight')(text_expr, separator)) }}
{%- endmacro %}
{% macro default__split_text(text_expr, separator) -%}
string_split({{ text_expr }}, '{{ separator }}')
{%- endmacro %}
{% macro spark__split_text(text_expr, separator) -%}
split({{ text_expr }}, '\Q{{ separator }}\E')
{%- endmacro %}

{#- Does the regular expression match anywhere in the text / match the whole text? On Spark (Java regexes) `(?u)`
    makes `(?i)` fold case beyond ASCII as RE2 does, and `\z` is the end of the text (`$` also matches before a
    final newline there). -#}
{% macro re_matches(text_expr, pattern_expr) -%}
{{ return(adapter.dispatch('re_matches', 'service_insight')(text_expr, pattern_expr)) }}
{%- endmacro %}
{% macro default__re_matches(text_expr, pattern_expr) -%}
regexp_matches({{ text_expr }}, {{ pattern_expr }})
{%- endmacro %}
{% macro spark__re_matches(text_expr, pattern_expr) -%}
regexp_like({{ text_expr }}, '(?u)' || {{ pattern_expr }})
{%- endmacro %}

{% macro re_full_match(text_expr, pattern_expr) -%}
{{ return(adapter.dispatch('re_full_match', 'service_insight')(text_expr, pattern_expr)) }}
{%- endmacro %}
{% macro default__re_full_match(text_expr, pattern_expr) -%}
regexp_full_match({{ text_expr }}, {{ pattern_expr }})
{%- endmacro %}
{% macro spark__re_full_match(text_expr, pattern_expr) -%}
regexp_like({{ text_expr }}, '(?u)^(?:' || {{ pattern_expr }} || ')\z')
{%- endmacro %}

{#- Every match replaced (DuckDB replaces the first one unless told 'g'; Spark replaces all). -#}
{% macro re_replace_all(text_expr, pattern_expr, replacement_expr) -%}
{{ return(adapter.dispatch('re_replace_all', 'service_insight')(text_expr, pattern_expr, replacement_expr)) }}
{%- endmacro %}
{% macro default__re_replace_all(text_expr, pattern_expr, replacement_expr) -%}
regexp_replace({{ text_expr }}, {{ pattern_expr }}, {{ replacement_expr }}, 'g')
{%- endmacro %}
{% macro spark__re_replace_all(text_expr, pattern_expr, replacement_expr) -%}
regexp_replace({{ text_expr }}, '(?u)' || {{ pattern_expr }}, {{ replacement_expr }})
{%- endmacro %}

{#- A text as a regular expression that matches it literally. -#}
{% macro re_escape(text_expr) -%}
{{ return(adapter.dispatch('re_escape', 'service_insight')(text_expr)) }}
{%- endmacro %}
{% macro default__re_escape(text_expr) -%}
regexp_escape({{ text_expr }})
{%- endmacro %}
{% macro spark__re_escape(text_expr) -%}
('\Q' || replace({{ text_expr }}, '\E', '\E\\E\Q') || '\E')
{%- endmacro %}

{#- Every whole match of the regular expression, as a list. -#}
{% macro re_extract_all(text_expr, pattern_expr) -%}
{{ return(adapter.dispatch('re_extract_all', 'service_insight')(text_expr, pattern_expr)) }}
{%- endmacro %}
{% macro default__re_extract_all(text_expr, pattern_expr) -%}
regexp_extract_all({{ text_expr }}, {{ pattern_expr }})
{%- endmacro %}
{% macro spark__re_extract_all(text_expr, pattern_expr) -%}
regexp_extract_all({{ text_expr }}, {{ pattern_expr }}, 0)
{%- endmacro %}

{#- Seconds since 1970-01-01 00:00 of a timestamp without zone, fractions kept. -#}
{% macro epoch_seconds(ts_expr) -%}
{{ return(adapter.dispatch('epoch_seconds', 'service_insight')(ts_expr)) }}
{%- endmacro %}
{% macro default__epoch_seconds(ts_expr) -%}
epoch({{ ts_expr }})
{%- endmacro %}
{% macro spark__epoch_seconds(ts_expr) -%}
(unix_micros(cast({{ ts_expr }} as timestamp)) / 1e6)
{%- endmacro %}

{#- ISO day of the week: Monday 1 ... Sunday 7. -#}
{% macro iso_weekday(ts_expr) -%}
{{ return(adapter.dispatch('iso_weekday', 'service_insight')(ts_expr)) }}
{%- endmacro %}
{% macro default__iso_weekday(ts_expr) -%}
isodow({{ ts_expr }})
{%- endmacro %}
{% macro spark__iso_weekday(ts_expr) -%}
(weekday({{ ts_expr }}) + 1)
{%- endmacro %}

{#- Integer division, rounding down. -#}
{% macro int_div(numerator, denominator) -%}
{{ return(adapter.dispatch('int_div', 'service_insight')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__int_div(numerator, denominator) -%}
(({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}
{% macro spark__int_div(numerator, denominator) -%}
(({{ numerator }}) div ({{ denominator }}))
{%- endmacro %}

{#- A timestamp (or a date, read as its midnight) plus a number of days, hours, minutes (whole) or seconds. -#}
{% macro add_time(ts_expr, amount_expr, unit) -%}
{{ return(adapter.dispatch('add_time', 'service_insight')(ts_expr, amount_expr, unit)) }}
{%- endmacro %}
{% macro default__add_time(ts_expr, amount_expr, unit) -%}
{%- if unit == 'second' -%}
({{ ts_expr }} + to_seconds({{ amount_expr }}))
{%- else -%}
({{ ts_expr }} + to_{{ unit }}s(cast({{ amount_expr }} as bigint)))
{%- endif -%}
{%- endmacro %}
{% macro spark__add_time(ts_expr, amount_expr, unit) -%}
{%- if unit == 'second' -%}
(cast({{ ts_expr }} as timestamp_ntz) + make_dt_interval(0, 0, 0, cast({{ amount_expr }} as decimal(18, 6))))
{%- else -%}
timestampadd({{ unit | upper }}, cast({{ amount_expr }} as bigint), cast({{ ts_expr }} as timestamp_ntz))
{%- endif -%}
{%- endmacro %}

{#- A business-time-zone wall-clock timestamp as the UTC timestamp it names (exact across daylight saving). -#}
{% macro wall_clock_to_utc(ts_expr, zone) -%}
{{ return(adapter.dispatch('wall_clock_to_utc', 'service_insight')(ts_expr, zone)) }}
{%- endmacro %}
{% macro default__wall_clock_to_utc(ts_expr, zone) -%}
timezone('UTC', timezone('{{ zone }}', {{ ts_expr }}))
{%- endmacro %}
{% macro spark__wall_clock_to_utc(ts_expr, zone) -%}
cast(to_utc_timestamp({{ ts_expr }}, '{{ zone }}') as timestamp_ntz)
{%- endmacro %}

{#- Sorted list of the values of an expression over the rows where a condition holds; empty, never null. -#}
{% macro sorted_list_where(value_expr, condition) -%}
{{ return(adapter.dispatch('sorted_list_where', 'service_insight')(value_expr, condition)) }}
{%- endmacro %}
{% macro default__sorted_list_where(value_expr, condition) -%}
coalesce(list({{ value_expr }} order by {{ value_expr }}) filter (where {{ condition }}), [])
{%- endmacro %}
{% macro spark__sorted_list_where(value_expr, condition) -%}
coalesce(sort_array(collect_list({{ value_expr }}) filter (where {{ condition }})), array())
{%- endmacro %}

{#- Number of elements of a list; the list's elements joined into one text. -#}
{% macro list_size(list_expr) -%}
{{ return(adapter.dispatch('list_size', 'service_insight')(list_expr)) }}
{%- endmacro %}
{% macro default__list_size(list_expr) -%}
len({{ list_expr }})
{%- endmacro %}
{% macro spark__list_size(list_expr) -%}
size({{ list_expr }})
{%- endmacro %}

{% macro join_list(list_expr, separator) -%}
{{ return(adapter.dispatch('join_list', 'service_insight')(list_expr, separator)) }}
{%- endmacro %}
{% macro default__join_list(list_expr, separator) -%}
array_to_string({{ list_expr }}, '{{ separator }}')
{%- endmacro %}
{% macro spark__join_list(list_expr, separator) -%}
array_join({{ list_expr }}, '{{ separator }}')
{%- endmacro %}

{#- A whole-number series as rows: `lower`, ..., `upper` (select-list generator). -#}
{% macro unnest_range(lower_expr, upper_expr) -%}
{{ return(adapter.dispatch('unnest_range', 'service_insight')(lower_expr, upper_expr)) }}
{%- endmacro %}
{% macro default__unnest_range(lower_expr, upper_expr) -%}
unnest(range({{ lower_expr }}, {{ upper_expr }} + 1))
{%- endmacro %}
{% macro spark__unnest_range(lower_expr, upper_expr) -%}
explode(sequence({{ lower_expr }}, {{ upper_expr }}))
{%- endmacro %}

{#- `from <relation>` followed by one row per day from `first_day` to `last_day` (dates), as `alias.column`. -#}
{% macro from_with_days(relation, first_day, last_day, alias, column) -%}
{{ return(adapter.dispatch('from_with_days', 'service_insight')(relation, first_day, last_day, alias, column)) }}
{%- endmacro %}
{% macro default__from_with_days(relation, first_day, last_day, alias, column) -%}
from {{ relation }}
    cross join range(cast({{ first_day }} as timestamp), cast({{ last_day }} + 1 as timestamp), interval 1 day)
        as {{ alias }} ({{ column }})
{%- endmacro %}
{% macro spark__from_with_days(relation, first_day, last_day, alias, column) -%}
from {{ relation }}
    lateral view explode(sequence(cast({{ first_day }} as date), cast({{ last_day }} as date), interval 1 day))
        {{ alias }} as {{ column }}
{%- endmacro %}

{#- A JSON object text from (key, SQL expression) pairs, nulls kept as null. Times are written as DuckDB writes
    them (2026-10-07 12:48:08); on Spark a fraction of a second is left out. -#}
{% macro json_object_of(pairs) -%}
{{ return(adapter.dispatch('json_object_of', 'service_insight')(pairs)) }}
{%- endmacro %}
{% macro default__json_object_of(pairs) -%}
json_object(
    {%- for key, value in pairs %}
    '{{ key }}', {{ value }}{{ ',' if not loop.last }}
    {%- endfor %}
)
{%- endmacro %}
{% macro spark__json_object_of(pairs) -%}
to_json(named_struct(
    {%- for key, value in pairs %}
    '{{ key }}', {{ value }}{{ ',' if not loop.last }}
    {%- endfor %}
), map('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss',
    'timestampNTZFormat', 'yyyy-MM-dd HH:mm:ss'))
{%- endmacro %}

{#- A JSON text as the engine's JSON value (DuckDB has a JSON type; Spark keeps JSON as text). -#}
{% macro as_json(expr) -%}
{{ return(adapter.dispatch('as_json', 'service_insight')(expr)) }}
{%- endmacro %}
{% macro default__as_json(expr) -%}
{{ expr }}::json
{%- endmacro %}
{% macro spark__as_json(expr) -%}
{{ expr }}
{%- endmacro %}

{#- Whole seconds / days from `start` to `end`: boundaries crossed, as DuckDB's date_diff counts them. -#}
{% macro seconds_between(start_expr, end_expr) -%}
{{ return(adapter.dispatch('seconds_between', 'service_insight')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__seconds_between(start_expr, end_expr) -%}
date_diff('second', {{ start_expr }}, {{ end_expr }})
{%- endmacro %}
{% macro spark__seconds_between(start_expr, end_expr) -%}
(unix_seconds(cast({{ end_expr }} as timestamp)) - unix_seconds(cast({{ start_expr }} as timestamp)))
{%- endmacro %}

{% macro days_between(start_expr, end_expr) -%}
{{ return(adapter.dispatch('days_between', 'service_insight')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__days_between(start_expr, end_expr) -%}
date_diff('day', {{ start_expr }}, {{ end_expr }})
{%- endmacro %}
{% macro spark__days_between(start_expr, end_expr) -%}
datediff(cast({{ end_expr }} as date), cast({{ start_expr }} as date))
{%- endmacro %}

{#- Texts joined with a separator in the order of `order_by` (over the rows where `condition` holds); nulls skipped.
    distinct=true joins each distinct text once, in its own order. -#}
{% macro ordered_text_agg(value_expr, separator, order_by, condition=none, distinct=false) -%}
{{ return(adapter.dispatch('ordered_text_agg', 'service_insight')(value_expr, separator, order_by, condition, distinct)) }}
{%- endmacro %}
{% macro default__ordered_text_agg(value_expr, separator, order_by, condition, distinct) -%}
string_agg({{ 'distinct ' if distinct }}{{ value_expr }}, '{{ separator }}' order by {{ order_by }})
{%- if condition %} filter (where {{ condition }}){% endif %}
{%- endmacro %}
{% macro spark__ordered_text_agg(value_expr, separator, order_by, condition, distinct) -%}
{%- if distinct -%}
nullif(array_join(array_sort(collect_set({{ value_expr }}){% if condition %} filter (where {{ condition }}){% endif %}), '{{ separator }}'), '')
{%- else -%}
nullif(array_join(transform(sort_array(collect_list(named_struct('k', {{ order_by }}, 'v', {{ value_expr }}))
    {%- if condition %} filter (where {{ condition }}){% endif %}), x -> x.v), '{{ separator }}'), '')
{%- endif -%}
{%- endmacro %}

{#- A number rounded to `digits` places, halves away from zero, as a double. Through a decimal on both engines:
    a double such as 6.35 is stored as 6.34999..., which DuckDB rounds down and Spark up. -#}
{% macro round_half_up(number_expr, digits) -%}
cast(round(cast({{ number_expr }} as decimal(38, 9)), {{ digits }}) as double)
{%- endmacro %}
