"""Value: what do customers buy together, and what is worth offering in the contacts happening now?

Reads three marts: ``fct_association_rules`` (rules over orders and over customers' whole
history), ``fct_cross_sell_opportunities`` (the offers per recent contact) and
``fct_cross_sell_revenue_at_stake``. Customers appear by their pseudonymous id only.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import has_table, query
from dashboards.widgets import contacts_link, download_button, number_formats, page_filters, plain, require_marts

filters = page_filters("Value: cross-sell and basket rules")
require_marts("This snapshot has no value marts yet (`fct_association_rules`, `fct_cross_sell_opportunities`). "
              "They appear after the next full build.", "fct_association_rules", "fct_cross_sell_opportunities")

# ---- page filters ---------------------------------------------------------------------------
bounds = query("select min(lift) as lo, max(lift) as hi, max(confidence) as cmax from marts.fct_association_rules")
if bounds.empty or pd.isna(bounds.iloc[0]["hi"]):
    st.info("No rule passed the support, confidence and lift thresholds in this build "
            "(dbt vars `value_*`). Lower them or wait for more orders.", icon=":material/search_off:")
    st.stop()
lift_hi = float(bounds.iloc[0]["hi"])
left, mid, right = st.columns(3)
kinds = left.multiselect("Baskets", ["order", "customer"], default=["order", "customer"], key="value_kinds",
                         help="order: products on one order. customer: what one customer bought, asked about "
                              "and raised as intents over time.")
min_lift = mid.slider("Minimum lift", 1.0, max(1.0, round(lift_hi, 1)), 1.0, step=0.1, key="value_min_lift")
min_conf = right.slider("Minimum confidence", 0.0, 1.0, 0.0, step=0.05, key="value_min_conf")
kinds = kinds or ["order", "customer"]
kind_marks = ", ".join("?" for _ in kinds)

# ---- revenue at stake (for the global channel and period filters and the bars above) ---------
where_parts = ["started_date between ? and ?"]
params: list = [filters.start, filters.end]
if filters.channels:
    where_parts.append(f"channel in ({', '.join('?' for _ in filters.channels)})")
    params.extend(filters.channels)
open_only = st.toggle("Only contacts that did not end resolved", value=False, key="value_open_only")
if open_only:
    where_parts.append("is_open")
where_parts.append(f"basket_kind in ({kind_marks}) and lift >= ? and confidence >= ?")
params.extend([*kinds, min_lift, min_conf])
where = " and ".join(where_parts)

# Each customer counts once, through their latest contact with an offer; their top offer is the
# one worth most among those the bars leave (offer_rank 1 when nothing is filtered out).
stake = query(f"""
    with latest as (
        select * from marts.fct_cross_sell_opportunities
        where {where}
        qualify dense_rank() over (partition by customer_id order by started_at desc, conversation_id desc) = 1
    ),
    per_customer as (
        select customer_id, max(expected_revenue) as top_offer, sum(expected_revenue) as all_offers
        from latest group by customer_id
    )
    select
        coalesce(sum(top_offer), 0) as revenue_at_stake,
        coalesce(sum(all_offers), 0) as revenue_all_offers,
        count(*) as customers
    from per_customer""", tuple(params))
summary = query("select * from marts.fct_cross_sell_revenue_at_stake") if has_table(
    "fct_cross_sell_revenue_at_stake") else pd.DataFrame()
rule_count = query(f"select count(*) as n from marts.fct_association_rules where basket_kind in ({kind_marks}) "
                   "and lift >= ? and confidence >= ?", (*kinds, min_lift, min_conf))

cols = st.columns(4)
row = stake.iloc[0] if not stake.empty else None
cols[0].metric("Revenue at stake", "–" if row is None else f"{row['revenue_at_stake']:,.0f}",
               help="Each customer's top offer (latest contact): confidence x list price, summed.")
cols[1].metric("With all offers", "–" if row is None else f"{row['revenue_all_offers']:,.0f}")
cols[2].metric("Customers with an offer", "–" if row is None else f"{int(row['customers']):,}")
cols[3].metric("Rules shown", f"{int(rule_count.iloc[0]['n']):,}" if not rule_count.empty else "0")
if not summary.empty and pd.notna(summary.iloc[0]["as_of_date"]):
    s = summary.iloc[0]
    st.caption(f"Offers cover the contacts of the {int(s['window_days'])} days to {s['as_of_date']:%d %b %Y}; "
               f"over all of them the revenue at stake is {s['revenue_at_stake']:,.0f} "
               f"({int(s['customers_with_offer']):,} customers). The queue filter does not apply here.")

# ---- rules ----------------------------------------------------------------------------------
st.subheader("What goes together")
rules = query(f"""
    select rule_id, basket_kind, antecedents, consequents, support, confidence, lift, leverage, conviction,
           support_count, basket_count
    from marts.fct_association_rules
    where basket_kind in ({kind_marks}) and lift >= ? and confidence >= ?
    order by lift desc, confidence desc, rule_id""", (*kinds, min_lift, min_conf))
if rules.empty:
    st.info("No rule meets these lift and confidence bars. Lower them above.")
else:
    fig = px.scatter(plain(rules, "antecedents", "consequents"), x="support", y="confidence", color="lift", symbol="basket_kind",
                     hover_data={"antecedents": True, "consequents": True, "lift": ":.2f", "support": ":.4f",
                                 "confidence": ":.2f", "basket_kind": False},
                     color_continuous_scale="Viridis", log_x=True,
                     labels={"support": "support (share of baskets, log scale)", "confidence": "confidence"})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(rules.head(50), hide_index=True, width="stretch",
                 column_config={"support": st.column_config.NumberColumn(format="%.4f"),
                                "confidence": st.column_config.NumberColumn(format="%.2f"),
                                "lift": st.column_config.NumberColumn(format="%.2f"),
                                "leverage": st.column_config.NumberColumn(format="%.4f"),
                                "conviction": st.column_config.NumberColumn(format="%.2f")})
    download_button(rules, "association_rules.csv", "Download the rules (CSV)")

# ---- offers ---------------------------------------------------------------------------------
st.subheader("Offers to make")
offers = query(f"""
    select conversation_id, customer_id, started_date, channel, disposition, offer_rank, product_id, product_name,
           product_category, price, confidence, lift, expected_revenue, basket_kind, because
    from marts.fct_cross_sell_opportunities
    where {where}
    order by started_date desc, conversation_id, offer_rank""", tuple(params))
if offers.empty:
    st.info("No offers for these filters. Offers exist only for the most recent contacts, so the period must "
            "reach the latest days of the snapshot; the basket, lift and confidence bars above apply too.")
else:
    # The best offer left in each contact (rank 1 unless the bars above removed it).
    top = offers.sort_values("expected_revenue", ascending=False, kind="stable").drop_duplicates("conversation_id")
    by_product = (top.groupby(["product_name", "product_category"], as_index=False)
                  .agg(contacts=("conversation_id", "nunique"), expected_revenue=("expected_revenue", "sum"))
                  .sort_values("expected_revenue", ascending=False))
    st.plotly_chart(px.bar(plain(by_product, "product_name", "product_category"), x="product_name", y="expected_revenue", color="product_category",
                           hover_data=["contacts"],
                           labels={"product_name": "", "expected_revenue": "expected revenue of top offers"}),
                    width="stretch")
    # The contacts behind the offers, under the same bars (the queue filter does not apply here either).
    contacts_link(f"The {offers['conversation_id'].nunique():,} contacts with an offer", offer="yes",
                  min_lift=str(min_lift), min_confidence=str(min_conf), baskets=",".join(kinds), queue="all",
                  **({"open": "yes"} if open_only else {}))
    st.dataframe(offers, hide_index=True, width="stretch",
                 column_config=number_formats("%.2f", "confidence", "lift", "expected_revenue", "price"))
    download_button(offers, "cross_sell_offers.csv", "Download the offers (CSV)")
