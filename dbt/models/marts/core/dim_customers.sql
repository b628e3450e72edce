with

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

contact_summary as (
    select
        customer_id,
        count(*) as contact_count,
        min(started_at) as first_contact_at,
        max(started_at) as last_contact_at,
        avg(csat) as avg_csat
    from conversations
    group by customer_id
),

order_summary as (
    select
        customer_id,
        count(distinct order_id) as order_count,
        sum(line_amount) as lifetime_revenue
    from orders
    group by customer_id
),

final as (
    select
        customers.customer_id,
        customers.language,
        customers.city,
        customers.segment,
        customers.signup_date,
        customers.email_domain,
        coalesce(contact_summary.contact_count, 0) as contact_count,
        contact_summary.first_contact_at,
        contact_summary.last_contact_at,
        contact_summary.avg_csat,
        coalesce(order_summary.order_count, 0) as order_count,
        coalesce(order_summary.lifetime_revenue, 0) as lifetime_revenue
    from customers
    left join contact_summary using (customer_id)
    left join order_summary using (customer_id)
)

select * from final
