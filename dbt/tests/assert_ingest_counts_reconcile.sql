-- Every landing record is either loaded or quarantined: rows in = loaded + quarantined.
select *
from {{ ref('fct_ingest_files') }}
where not counts_reconcile
