{#- Generic test: the given columns together identify a row. -#}
{% test unique_combination_of_columns(model, combination) %}
select
    {{ combination | join(', ') }},
    count(*) as copies
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}
