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
si_mask_pii({{ text_expr }})
{%- endmacro %}

{#-
  The rules without the name model, for text the platform writes itself around quoted values
  (quarantine reasons): the model would take "Parquet" in "unreadable Parquet file" for a person.
-#}
{% macro mask_pii_rules(text_expr) -%}
si_mask_pii_rules({{ text_expr }})
{%- endmacro %}

{#- The tokens si_mask_pii() and mask_names() write, as a regular expression (keep in step with warehouse.pii.TOKENS). -#}
{% macro pii_token_pattern() -%}
\[(PHONE|EMAIL|BANK_CARD|ID_CARD|IBAN|SSN|PASSPORT|IP|ADDRESS|NAME|BIRTH_DATE|PLATE|WECHAT|HANDLE)\]
{%- endmacro %}

{#- How many PII items mask_pii() replaces in a text (for the data-quality page). -#}
{% macro count_pii(text_expr) -%}
(len(regexp_extract_all({{ mask_pii(text_expr) }}, '{{ pii_token_pattern() }}')))
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
  when regexp_full_match({{ name_expr }}, '[A-Za-z .''-]+')
    then regexp_replace({{ expr }}, '(?i)\b' || regexp_escape({{ name_expr }}) || '\b', '[NAME]', 'g')
  {% if not latin_only -%}
  else regexp_replace({{ expr }}, '(?i)' || regexp_escape({{ name_expr }}), '[NAME]', 'g')
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
