"""Association rules over two kinds of baskets, mined with mlxtend FP-growth (ml.basket_rules).

- ``order``: the products on one order ("bought a laptop -> also bought a mouse").
- ``customer``: everything known about one customer: products bought (``bought:``), products
  they contacted us about (``asked:``, the lead product of the order a contact concerns) and the
  intents they raised (``intent:``). Only rules that end in buying a product the left side does
  not already name are kept ("asked about the camera + raised delivery_delay -> bought a tripod").

Why a Python model: frequent-itemset mining is not expressible in SQL at any reasonable cost,
and the same tested function (``ml.basket_rules.mine_rules``) serves the bench. Thresholds are
dbt vars (``value_*`` in dbt_project.yml) handed in through the model's ``meta`` in the YAML.
The output is an Arrow table with a fixed schema, so a warehouse with no orders still builds an
empty, well-typed table for the cross-sell models to read.
"""

import pyarrow as pa

from ml.basket_rules import (
    ASKED,
    BOUGHT,
    INTENT,
    actionable_customer_rules,
    encode_baskets,
    item_product,
    mine_rules,
    split_item,
)

SCHEMA = pa.schema([
    ("rule_id", pa.string()),
    ("basket_kind", pa.string()),
    ("antecedents", pa.string()),
    ("consequents", pa.string()),
    ("antecedent_items", pa.list_(pa.string())),
    ("consequent_items", pa.list_(pa.string())),
    ("antecedent_customer_items", pa.list_(pa.string())),
    ("antecedent_product_ids", pa.list_(pa.string())),
    ("antecedent_product_names", pa.list_(pa.string())),
    ("consequent_product_ids", pa.list_(pa.string())),
    ("consequent_product_names", pa.list_(pa.string())),
    ("antecedent_size", pa.int32()),
    ("consequent_size", pa.int32()),
    ("basket_count", pa.int64()),
    ("support_count", pa.int64()),
    ("antecedent_support", pa.float64()),
    ("consequent_support", pa.float64()),
    ("support", pa.float64()),
    ("confidence", pa.float64()),
    ("lift", pa.float64()),
    ("leverage", pa.float64()),
    ("conviction", pa.float64()),
    ("lift_rank", pa.int32()),
])


def _number(value, default, cast=float):
    """A threshold from the model's meta (rendered vars arrive as text), else the default."""
    try:
        return cast(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _label(item, names):
    kind, value = split_item(item)
    if kind == INTENT:
        return f"raised {value}"
    product = names.get(value, value)
    if kind == ASKED:
        return f"asked about {product}"
    if kind == BOUGHT:
        return f"bought {product}"
    return product


def _rows(kind, rules, basket_count, names):
    rows = []
    for rank, rule in enumerate(rules.itertuples(index=False), start=1):
        left, right = list(rule.antecedents), list(rule.consequents)
        left_products = [p for p in (item_product(i) for i in left) if p is not None]
        right_products = [p for p in (item_product(i) for i in right) if p is not None]
        rows.append({
            "rule_id": f"{kind}:{'+'.join(left)}->{'+'.join(right)}",
            "basket_kind": kind,
            "antecedents": " + ".join(_label(i, names) for i in left),
            "consequents": " + ".join(_label(i, names) for i in right),
            "antecedent_items": left,
            "consequent_items": right,
            # The left side in customer-fact terms, so offers can match a customer's history:
            # an order rule's "P001" is the customer fact "bought:P001".
            "antecedent_customer_items": left if kind == "customer" else [f"{BOUGHT}:{i}" for i in left],
            "antecedent_product_ids": left_products,
            "antecedent_product_names": [names.get(p, p) for p in left_products],
            "consequent_product_ids": right_products,
            "consequent_product_names": [names.get(p, p) for p in right_products],
            "antecedent_size": len(left),
            "consequent_size": len(right),
            "basket_count": basket_count,
            "support_count": int(rule.support_count),
            "antecedent_support": float(rule.antecedent_support),
            "consequent_support": float(rule.consequent_support),
            "support": float(rule.support),
            "confidence": float(rule.confidence),
            "lift": float(rule.lift),
            "leverage": float(rule.leverage),
            "conviction": None if rule.conviction != rule.conviction else float(rule.conviction),
            "lift_rank": rank,
        })
    return rows


def model(dbt, session):
    dbt.config(materialized="table")
    min_confidence = _number(dbt.config.meta_get("min_confidence"), 0.1)
    min_lift = _number(dbt.config.meta_get("min_lift"), 2.0)
    max_len = _number(dbt.config.meta_get("max_rule_len"), 3, int)
    supports = {
        "order": _number(dbt.config.meta_get("order_min_support"), 0.002),
        "customer": _number(dbt.config.meta_get("customer_min_support"), 0.02),
    }

    products = dbt.ref("stg_raw__products").project("product_id, name_en").df()
    names = {str(r.product_id): str(r.name_en) for r in products.itertuples(index=False) if r.product_id is not None}
    orders = dbt.ref("stg_raw__orders").project("order_id, product_id").df()
    facts = dbt.ref("int_value__customer_facts").project("customer_id, item").df()

    rows = []
    for kind, frame, basket_col, item_col in (
        ("order", orders, "order_id", "product_id"),
        ("customer", facts, "customer_id", "item"),
    ):
        baskets = encode_baskets(frame[basket_col], frame[item_col])
        rules = mine_rules(baskets, supports[kind], min_confidence, min_lift, max_len)
        if kind == "customer":
            rules = actionable_customer_rules(rules)
        rows.extend(_rows(kind, rules, baskets.count, names))
    return pa.Table.from_pylist(rows, schema=SCHEMA)
