{#-
  Order for keeping the newest version of a record: the day in the landing file's name first
  (a re-delivered old export must not beat a newer one), then load time, file and line.
-#}
{% macro latest_first() -%}
regexp_extract(_source_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) desc nulls last, _loaded_at desc, _source_file desc, _line desc
{%- endmacro %}
