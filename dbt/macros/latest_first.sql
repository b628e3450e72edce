{#-
  Order for keeping the newest version of a record: the latest export wins. First the day in the
  landing file's name (a re-delivered old export must not beat a newer one), then the file's
  modification time (when the exporter wrote it), then the file name, then the line.
  warehouse/ingest.py (LATEST_FIRST) reports the versions this drops in raw.duplicate_keys with the
  same order; tests/test_landing_integrity.py holds the two together.
-#}
{% macro latest_first() -%}
regexp_extract(_source_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) desc nulls last, _file_modified_at desc nulls last, _source_file desc, _line desc
{%- endmacro %}
