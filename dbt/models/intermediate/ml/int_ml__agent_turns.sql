-- What the agent-turn models read: every agent turn's (PII-masked) text.
{{ config(materialized='view') }}

{{ speaker_turns('agent') }}
