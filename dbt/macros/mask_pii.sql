{#-
  Personal data in free text is masked by si_mask_pii(), the recognisers of warehouse/pii.py that
  the dbt-duckdb plugin warehouse/dbt_secrets.py registers on every connection: phones in national
  and international forms, e-mails, card numbers (Luhn), IBANs (mod 97), identity numbers (Chinese,
  Hong Kong, Spanish, French, UK; check characters), US SSNs, passports, IP addresses, street
  addresses, names after cues, birth dates, licence plates and WeChat IDs, each replaced by its
  typed token. Checksums and context words do not fit in regular expressions, hence Python.
  `python bench/pii.py` scores it. The customer's own CRM names are masked after, by mask_names().
-#}
{% macro mask_pii(text_expr) -%}
{{ return(adapter.dispatch('mask_pii', 'service_insight')(text_expr)) }}
{%- endmacro %}

{% macro default__mask_pii(text_expr) -%}
si_mask_pii({{ text_expr }})
{%- endmacro %}

{#- On Spark the lake already holds these columns masked by the same function (warehouse/lake.py). -#}
{% macro spark__mask_pii(text_expr) -%}
{{ text_expr }}
{%- endmacro %}

{#-
  The rules without the name model, for text the platform writes itself around quoted values
  (quarantine reasons): the model would take "Parquet" in "unreadable Parquet file" for a person.
-#}
{% macro mask_pii_rules(text_expr) -%}
{{ return(adapter.dispatch('mask_pii_rules', 'service_insight')(text_expr)) }}
{%- endmacro %}

{% macro default__mask_pii_rules(text_expr) -%}
si_mask_pii_rules({{ text_expr }})
{%- endmacro %}

{% macro spark__mask_pii_rules(text_expr) -%}
{{ text_expr }}
{%- endmacro %}

{#-
  A caller's number as a keyed hash: repeat callers can be counted, the number cannot be read back. The key
  comes from si_pii_key(), a connection-local macro (warehouse/dbt_secrets.py), so it is never compiled into
  SQL that dbt writes to target/ or its logs. On Spark the lake holds the hash already (warehouse/lake.py):
  Spark never sees the key.
-#}
{% macro caller_number_hash(number_expr) -%}
{{ return(adapter.dispatch('caller_number_hash', 'service_insight')(number_expr)) }}
{%- endmacro %}

{% macro default__caller_number_hash(number_expr) -%}
sha256(si_pii_key() || {{ re_replace_all(number_expr, "'[^0-9+]'", "''") }})
{%- endmacro %}

{% macro spark__caller_number_hash(number_expr) -%}
{{ number_expr }}
{%- endmacro %}

{#- The tokens si_mask_pii() and mask_names() write, as a regular expression (keep in step with warehouse.pii.TOKENS). -#}
{% macro pii_token_pattern() -%}
\[(PHONE|EMAIL|BANK_CARD|ID_CARD|IBAN|SSN|PASSPORT|IP|ADDRESS|NAME|BIRTH_DATE|PLATE|WECHAT|HANDLE)\]
{%- endmacro %}

{#- How many PII items mask_pii() replaces in a text (for the data-quality page). -#}
{% macro count_pii(text_expr) -%}
({{ list_size(re_extract_all(mask_pii(text_expr), "'" ~ pii_token_pattern() ~ "'")) }})
{%- endmacro %}

{#-
  Replace a known person's names, whatever the case ("john smith" in a lower-cased chat too):
  the full name, then the given name (2+ characters) and, for names in Latin letters, the family
  name (3+ characters). Latin names match as whole words ("Ada" but not "Canada"); Chinese names
  match anywhere, since Chinese has no spaces. A lone Chinese family name is one common
  character and is left alone.
-#}
{% macro _mask_one_name(expr, name_expr, min_len, latin_only) -%}
case
  when length({{ name_expr }}) < {{ min_len }} then {{ expr }}
  when {{ re_full_match(name_expr, "'[A-Za-z .''-]+'") }}
    then {{ re_replace_all(expr, "'(?i)\\b' || " ~ re_escape(name_expr) ~ " || '\\b'", "'[NAME]'") }}
  {% if not latin_only -%}
  else {{ re_replace_all(expr, "'(?i)' || " ~ re_escape(name_expr), "'[NAME]'") }}
  {%- else -%}
  else {{ expr }}
  {%- endif %}
end
{%- endmacro %}

{% macro mask_names(text_expr, full_name_expr, given_name_expr, family_name_expr) -%}
{%- set full = _mask_one_name(text_expr, "coalesce(" ~ full_name_expr ~ ", '')", 2, false) -%}
{%- set given = _mask_one_name(full, "coalesce(" ~ given_name_expr ~ ", '')", 2, false) -%}
{{ _mask_one_name(given, "coalesce(" ~ family_name_expr ~ ", '')", 3, true) }}
{%- endmacro %}
