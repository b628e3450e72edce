-- What the conversation-level models read: the customer's first message (PII-masked in staging).
{{ config(materialized='view') }}

{{ speaker_turns('customer', first_only=true) }}
