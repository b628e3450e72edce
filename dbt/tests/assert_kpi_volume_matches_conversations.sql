-- The KPI mart neither loses nor double-counts contacts.
with kpi as (
    select sum(contacts) as contacts from {{ ref('fct_kpi_daily') }}
),
conversations as (
    select count(*) as contacts from {{ ref('fct_conversations') }}
)
select *
from kpi
cross join conversations as c
where kpi.contacts <> c.contacts
