{#-
  PII patterns, most specific first: e-mail addresses, 18-character resident ID numbers,
  15-19 digit card numbers, then phone numbers (mainland mobiles, +country numbers,
  North-American "(415) 555-0199" style). A phone must not be glued to letters or digits, so
  order numbers and dates survive. Names are masked with mask_names(): only the CRM knows them.
-#}
{% macro pii_patterns() -%}
{{ return([
  ('[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', '[EMAIL]'),
  ('\\b\\d{17}[\\dXx]\\b', '[ID_CARD]'),
  ('\\b\\d{15,19}\\b', '[BANK_CARD]'),
  ('\\b1[3-9]\\d{9}\\b', '[PHONE]'),
  ('\\+\\d{1,3}[ -]?\\(?\\d{1,4}\\)?(?:[ -]?\\d{2,4}){2,4}\\b', '[PHONE]'),
  ('\\(?\\b\\d{3}\\)?[ -]?\\d{3}-\\d{4}\\b', '[PHONE]'),
]) }}
{%- endmacro %}

{% macro mask_pii(text_expr) -%}
{%- set ns = namespace(expr=text_expr) -%}
{%- for pattern, token in pii_patterns() -%}
{%- set ns.expr = "regexp_replace(" ~ ns.expr ~ ", '" ~ pattern ~ "', '" ~ token ~ "', 'g')" -%}
{%- endfor -%}
{{ ns.expr }}
{%- endmacro %}

{#- How many PII items mask_pii() replaces in a text (for the data-quality page). -#}
{% macro count_pii(text_expr) -%}
(len(regexp_extract_all({{ mask_pii(text_expr) }}, '\[(EMAIL|ID_CARD|BANK_CARD|PHONE)\]')))
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
