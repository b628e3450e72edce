"""Value mining: basket rules by hand, FP-growth against plain counting, and the marts on the session build.

The checks on the built warehouse are plain functions of a DuckDB path and the ground-truth
folder, so they can be run against any build (``python -c "from tests.test_value import ..."``),
and the slow tests only hand them the session build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.basket_rules import (
    actionable_customer_rules,
    baskets_from_lists,
    customer_item,
    encode_baskets,
    item_product,
    mine_rules,
    one_hot,
    pair_rules_baseline,
    planted_recovery,
)

# Measured on the 2,000-contact, 45-day sample (seed 7) at the default dbt vars: order rules
# recover 16 of 16 planted bundles (recall 1.0), and 13 of the 16 highest-lift product pairs are
# planted (0.81; the other 3 are sibling accessories of one device, e.g. case + screen
# protector, which co-occur through the phone). Over seeds 1, 7, 11, 23 and 99 of the generator's
# orders: recall 0.94-1.0, precision 0.75-0.81. The bars sit below that range.
MIN_ORDER_RECALL = 0.85
MIN_ORDER_PRECISION_AT_K = 0.6

PII_COLUMN = re.compile(r"(^|_)(name|full_name|given|family|phone|email|e_mail|id_card|bank_card|address)($|_)")


# ---- hand baskets -------------------------------------------------------------------------

HAND = [["tea", "milk"], ["tea", "milk", "sugar"], ["tea"], ["milk", "bread"], ["bread"]]


def _rule(rules: pd.DataFrame, left: tuple, right: tuple) -> pd.Series:
    hit = rules[(rules["antecedents"] == left) & (rules["consequents"] == right)]
    assert len(hit) == 1, f"{left} -> {right} not found once in\n{rules}"
    return hit.iloc[0]


def test_a_hand_computed_rule_has_the_textbook_metrics():
    # tea in 3 of 5 baskets, milk in 3, both in 2: support 2/5, confidence 2/3, lift (2/3)/(3/5).
    rules = mine_rules(baskets_from_lists(HAND), min_support=0.2, min_confidence=0.0, min_lift=0.0)
    tea_milk = _rule(rules, ("tea",), ("milk",))
    assert tea_milk["support"] == pytest.approx(0.4)
    assert tea_milk["confidence"] == pytest.approx(2 / 3)
    assert tea_milk["lift"] == pytest.approx((2 / 3) / 0.6)
    assert tea_milk["leverage"] == pytest.approx(0.4 - 0.6 * 0.6)
    assert tea_milk["conviction"] == pytest.approx((1 - 0.6) / (1 - 2 / 3))
    assert tea_milk["support_count"] == 2
    # sugar only ever comes with tea and milk: a three-item rule with confidence 1, conviction null.
    sugar = _rule(rules, ("sugar",), ("milk", "tea"))
    assert sugar["confidence"] == pytest.approx(1.0)
    assert sugar["lift"] == pytest.approx(1.0 / 0.4)
    assert np.isnan(sugar["conviction"])


def test_thresholds_cut_rules_below_them():
    baskets = baskets_from_lists(HAND)
    rules = mine_rules(baskets, min_support=0.2, min_confidence=0.5, min_lift=1.5)
    assert len(rules)
    assert (rules["confidence"] >= 0.5).all() and (rules["lift"] >= 1.5).all() and (rules["support"] >= 0.2).all()
    # milk -> bread has lift 5/6: gone at lift >= 1; tea -> milk (support 0.4) gone at support 0.5.
    assert not ((rules["antecedents"] == ("milk",)) & (rules["consequents"] == ("bread",))).any()
    assert mine_rules(baskets, min_support=0.5, min_lift=0.0).empty


def test_bad_input_gives_no_rules_and_no_crash():
    assert mine_rules(baskets_from_lists([]), 0.1).empty
    assert pair_rules_baseline(baskets_from_lists([]), 0.1).empty
    assert mine_rules(baskets_from_lists([["a"], ["b"]]), 0.1).empty
    # missing and blank items are dropped, duplicates count once
    baskets = encode_baskets(["o1", "o1", "o1", None, "o2"], ["p1", "p1", None, "p2", " "])
    assert baskets.items == ("p1",) and baskets.count == 1
    with pytest.raises(ValueError, match="min_support"):
        mine_rules(baskets_from_lists(HAND), 0.0)
    with pytest.raises(ValueError, match="same length"):
        encode_baskets(["o1"], ["p1", "p2"])


def _synthetic(n: int, seed: int = 3):
    """Baskets with one strong planted pair (a -> b) among noise items."""
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in range(12)]
    baskets = []
    for _ in range(n):
        basket = set(rng.choice(items, size=rng.integers(1, 4)))
        if rng.random() < 0.2:
            basket.add("a")
            if rng.random() < 0.7:
                basket.add("b")
        baskets.append(sorted(basket))
    return baskets_from_lists(baskets)


def test_fpgrowth_and_plain_pair_counting_agree_on_every_pair_rule():
    baskets = _synthetic(3000)
    fp = mine_rules(baskets, min_support=0.01, min_confidence=0.05, min_lift=0.0, max_len=2)
    pairs = pair_rules_baseline(baskets, min_support=0.01, min_confidence=0.05, min_lift=0.0)
    key = ["antecedents", "consequents"]
    merged = fp.merge(pairs, on=key, suffixes=("_fp", "_pairs"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][key]
    for metric in ("support", "confidence", "lift", "leverage"):
        assert np.allclose(merged[f"{metric}_fp"], merged[f"{metric}_pairs"])
    assert _rule(fp, ("a",), ("b",))["lift"] > 3


def test_sparse_and_dense_one_hot_give_the_same_rules():
    baskets = _synthetic(500)
    assert one_hot(baskets, sparse_columns=True).dtypes.map(lambda d: isinstance(d, pd.SparseDtype)).all()
    dense = mine_rules(baskets, 0.02, sparse_columns=False)
    sparse = mine_rules(baskets, 0.02, sparse_columns=True)
    pd.testing.assert_frame_equal(dense, sparse)


def test_customer_rules_keep_only_new_purchases():
    rules = pd.DataFrame({
        "antecedents": [("asked:P1",), ("asked:P1",), ("intent:late",), ("bought:P1",)],
        "consequents": [("bought:P1",), ("bought:P2",), ("intent:refund",), ("bought:P2", "intent:late")],
        "lift": [3.0, 2.0, 2.0, 2.0],
    })
    kept = actionable_customer_rules(rules)
    assert kept["consequents"].tolist() == [("bought:P2",)]
    assert customer_item("asked", "P1") == "asked:P1" and customer_item("intent", None) is None
    assert item_product("asked:P1") == "P1" and item_product("intent:late") is None and item_product("P7") == "P7"


def test_planted_recovery_counts_direction_and_pairs():
    rules = pd.DataFrame({
        "antecedents": [("P1",), ("P2",), ("P3",), ("P4",)],
        "consequents": [("P2",), ("P1",), ("P4",), ("P3",)],
        "lift": [5.0, 5.0, 4.0, 4.0],
        "confidence": [0.6, 0.3, 0.5, 0.5],
    })
    got = planted_recovery(rules, [{"antecedent": "P1", "consequent": "P2"}, {"antecedent": "P5", "consequent": "P6"}])
    assert got["recall"] == 0.5 and got["missing"] == ["P5->P6"]
    assert got["precision_at_k"] == 0.5  # top 2 pairs: {P1,P2} planted, {P3,P4} not
    assert got["direction_accuracy"] == 1.0


# ---- checks on a built warehouse (plain functions of a path) ------------------------------

def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse), read_only=True)


def order_rule_recovery(warehouse: Path, ground_truth: Path) -> dict:
    """Recall / precision@k of the planted co-purchases among the order rules of the mart."""
    planted = json.loads((ground_truth / "planted_rules.json").read_text())
    with _connect(warehouse) as c:
        rules = c.execute("select antecedent_items, consequent_items, lift, confidence "
                          "from marts.fct_association_rules where basket_kind = 'order'").df()
    rules["antecedents"] = rules["antecedent_items"].map(tuple)
    rules["consequents"] = rules["consequent_items"].map(tuple)
    return planted_recovery(rules, planted, min_lift=1.0)


def owned_offers(warehouse: Path) -> pd.DataFrame:
    """Offers of a product the customer has bought on any order (must be empty)."""
    with _connect(warehouse) as c:
        return c.execute("""
            select o.conversation_id, o.customer_id, o.product_id
            from marts.fct_cross_sell_opportunities as o
            inner join staging.stg_raw__orders as r
                on r.customer_id = o.customer_id and r.product_id = o.product_id""").df()


def mispriced_offers(warehouse: Path) -> pd.DataFrame:
    """Offers whose expected revenue is not confidence x the catalogue price, or whose
    confidence is not that of the rule named."""
    with _connect(warehouse) as c:
        return c.execute("""
            select o.*
            from marts.fct_cross_sell_opportunities as o
            inner join staging.stg_raw__products as p using (product_id)
            inner join marts.fct_association_rules as r using (rule_id)
            where abs(o.expected_revenue - r.confidence * p.price) > 1e-9
                or abs(o.confidence - r.confidence) > 1e-12
                or o.offer_rank > 1 and o.expected_revenue > (
                    select b.expected_revenue from marts.fct_cross_sell_opportunities as b
                    where b.conversation_id = o.conversation_id and b.offer_rank = o.offer_rank - 1)""").df()


def revenue_at_stake_matches_offers(warehouse: Path) -> tuple[float, float]:
    """(summary model's revenue at stake, the same sum recomputed from the offers)."""
    with _connect(warehouse) as c:
        summary = c.execute("select revenue_at_stake from marts.fct_cross_sell_revenue_at_stake").fetchone()[0]
        recomputed = c.execute("""
            with latest as (
                select * from marts.fct_cross_sell_opportunities
                qualify dense_rank() over (partition by customer_id order by started_at desc, conversation_id desc) = 1)
            select coalesce(sum(expected_revenue), 0) from latest where offer_rank = 1""").fetchone()[0]
    return float(summary), float(recomputed)


def pii_columns(warehouse: Path) -> list[str]:
    """Columns of the value marts whose name says personal data (product names are fine)."""
    with _connect(warehouse) as c:
        cols = c.execute("""
            select table_name, column_name from information_schema.columns
            where table_schema = 'marts' and table_name in ('fct_association_rules',
                'fct_cross_sell_opportunities', 'fct_cross_sell_revenue_at_stake')""").fetchall()
    products = ("product_", "consequent_product", "antecedent_product")
    return [f"{t}.{col}" for t, col in cols if PII_COLUMN.search(col) and not col.startswith(products)]


def pii_values(warehouse: Path) -> int:
    """Offers whose text columns carry a phone number, e-mail address or ID number pattern."""
    with _connect(warehouse) as c:
        return c.execute(r"""
            with offers as (
                select customer_id || ' ' || coalesce(because, '') as text from marts.fct_cross_sell_opportunities
            )
            select count(*) from offers
            where regexp_matches(text, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}')
                or regexp_matches(text, '\b1[3-9]\d{9}\b|\b\d{17}[\dXx]\b')""").fetchone()[0]


# ---- on the session build -----------------------------------------------------------------

@pytest.mark.slow
def test_order_rules_recover_the_planted_co_purchases(use_built):
    got = order_rule_recovery(use_built.settings.warehouse_path, use_built.settings.ground_truth_dir)
    assert got["recall"] >= MIN_ORDER_RECALL, got
    assert got["precision_at_k"] >= MIN_ORDER_PRECISION_AT_K, got


@pytest.mark.slow
def test_rules_mart_holds_both_basket_kinds_with_consistent_metrics(use_built):
    with _connect(use_built.settings.warehouse_path) as c:
        rules = c.execute("select * from marts.fct_association_rules").df()
    assert set(rules["basket_kind"]) == {"order", "customer"}
    assert np.allclose(rules["confidence"], rules["support"] / rules["antecedent_support"])
    assert np.allclose(rules["lift"], rules["confidence"] / rules["consequent_support"])
    assert (rules["lift"] >= 2.0 - 1e-9).all()  # the default value_min_lift
    customer = rules[rules["basket_kind"] == "customer"]
    assert customer["consequent_items"].map(lambda items: all(i.startswith("bought:") for i in items)).all()


@pytest.mark.slow
def test_offers_never_name_a_product_the_customer_owns(use_built):
    with _connect(use_built.settings.warehouse_path) as c:
        assert c.execute("select count(*) from marts.fct_cross_sell_opportunities").fetchone()[0] > 0
    assert owned_offers(use_built.settings.warehouse_path).empty


@pytest.mark.slow
def test_expected_revenue_is_confidence_times_price_and_ranks_the_offers(use_built):
    assert mispriced_offers(use_built.settings.warehouse_path).empty
    summary, recomputed = revenue_at_stake_matches_offers(use_built.settings.warehouse_path)
    assert summary > 0 and summary == pytest.approx(recomputed, abs=0.01)


@pytest.mark.slow
def test_value_marts_carry_no_personal_data(use_built):
    assert pii_columns(use_built.settings.warehouse_path) == []
    assert pii_values(use_built.settings.warehouse_path) == 0


@pytest.mark.slow
def test_value_page_shows_revenue_rules_and_offers(use_built):
    from tests.app_pages import open_page
    from warehouse.snapshot import current

    assert current(use_built.settings.snapshot_dir) is not None
    at = open_page("dashboards/pages/value.py")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Revenue at stake"].replace(",", "")) > 0
    assert int(metrics["Rules shown"].replace(",", "")) > 0
    assert len(at.dataframe) >= 2  # top rules and offers
    offers = at.dataframe[1].value
    assert not ({"full_name", "phone", "email", "name"} & set(offers.columns))
