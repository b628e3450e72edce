with

source as (
    select * from {{ source('raw', 'customers') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by customer_id order by {{ latest_first() }}) = 1
),

final as (
    -- Identity stays in raw: names, numbers and ID documents are reduced to what analysis needs.
    select
        customer_id,
        language,
        city,
        segment,
        signup_date,
        nullif(split_part(email, '@', 2), '') as email_domain,
        email is not null as has_email,
        phone is not null as has_phone
    from latest
)

select * from final
