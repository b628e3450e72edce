-- What the customer-turn models read: every customer turn's (PII-masked) text.
{{ config(materialized='view') }}

{{ speaker_turns('customer') }}
