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

{#- Replace a known person's full and given name (given names shorter than 2 characters are left). -#}
{% macro mask_names(text_expr, full_name_expr, given_name_expr) -%}
case
  when {{ full_name_expr }} is null then {{ text_expr }}
  when {{ given_name_expr }} is not null and length({{ given_name_expr }}) >= 2
    then replace(replace({{ text_expr }}, {{ full_name_expr }}, '[NAME]'), {{ given_name_expr }}, '[NAME]')
  else replace({{ text_expr }}, {{ full_name_expr }}, '[NAME]')
end
{%- endmacro %}
