{#
  One reading per key from an enrichment table keyed by (key..., model_version): the current
  version's, or, until it has scored that key, the latest earlier one, so a mart never empties
  between the training step and the scoring step.
#}
{% macro current_predictions(predictions_relation, task, keys) -%}
    select predictions.*
    from {{ predictions_relation }} as predictions
    left join (
        select model_version
        from {{ source('ml', 'ml_model_runs') }}
        where task = '{{ task }}' and is_current
    ) as current_version
        on predictions.model_version = current_version.model_version
    qualify row_number() over (
        partition by {% for key in keys %}predictions.{{ key }}{% if not loop.last %}, {% endif %}{% endfor %}
        order by current_version.model_version is not null desc, predictions.scored_at desc,
            predictions.model_version desc
    ) = 1
{%- endmacro %}
