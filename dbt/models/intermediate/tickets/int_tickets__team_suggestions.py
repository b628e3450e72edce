"""Which team should own a contact, read from what the customer wrote (``ml.ticket_routing``).

Only customer turns are read, and not the closing one (a closing says how the contact went,
not what it is about): the agent's words would leak the handling team's answer. Each suggestion
is out-of-fold; too little history (fewer than ``min_training`` labelled contacts or a single
team) returns no rows, and fct_tickets then routes by the intent of record alone. The var
``ticket_classifier_candidates`` adds the frozen-encoder and ensemble candidates.
"""

from ml.ticket_routing import suggest_teams_reusing


def model(dbt, session):
    dbt.config(materialized="table")
    # Reduce in DuckDB before pandas sees it: one text per conversation, one label per contact.
    texts = (
        dbt.ref("int_turns__enriched")
        .filter("speaker = 'customer' and text is not null "
                "and (customer_turn_number < customer_turns or customer_turns <= 1)")
        .aggregate("conversation_id, string_agg(text, ' ' order by turn_index) as text", "conversation_id")
        .df()
    )
    labels = (
        dbt.ref("int_conversations__enriched")
        .filter("not coalesce(is_abandoned, false) and team_id is not null")
        .project("conversation_id, team_id, started_at")
        .df()
    )
    # Plain assignments: dbt finds the config keys a Python model reads by scanning for these calls.
    folds = dbt.config.get("folds")
    min_training = dbt.config.get("min_training")
    max_training = dbt.config.get("max_training")
    seed = dbt.config.get("seed")
    candidates = dbt.config.get("candidates")
    return suggest_teams_reusing(
        texts, labels,
        folds=int(folds or 5),
        min_training=int(min_training or 200),
        max_training=int(max_training or 50000),
        seed=int(seed or 7),
        candidates=tuple(c.strip() for c in str(candidates or "char_tfidf").split(",") if c.strip()),
    )
