"""Association rules over baskets: what goes with what, and how much more often than chance.

Why this module: the value marts (``fct_association_rules``, the cross-sell offers built on
it) and ``bench/rules.py`` need the same mining, so it lives here as pure functions of a basket
matrix. Two miners share one output shape:

- :func:`mine_rules`: mlxtend's FP-growth for the frequent itemsets, then
  ``association_rules`` for the metrics. It finds rules with several items on either side
  ("phone + case -> screen protector") and is what the marts use.
- :func:`pair_rules_baseline`: plain sparse counting of every 1 -> 1 rule (``X.T @ X`` gives
  every pair's co-occurrence count in one product). It cannot see longer rules, but it is exact
  for pairs and fast, so the bench and the tests use it as a yardstick for FP-growth.

Baskets are held as a boolean CSR matrix (rows baskets, columns items): a million orders over a
catalogue of a few dozen products is a few megabytes that way, where a dense frame of Python
objects would not fit. :func:`one_hot` hands mlxtend a pandas frame with sparse columns once the
matrix is large, so the 1M-basket bench stays within a few GB.

Rule metrics (A antecedent, C consequent, supp = share of baskets):
support = supp(A and C); confidence = supp(A and C) / supp(A); lift = confidence / supp(C);
leverage = supp(A and C) - supp(A) supp(C); conviction = (1 - supp(C)) / (1 - confidence),
null where confidence is 1 (it is infinite there, and an infinity breaks CSV and JSON readers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

#: Columns of every rules frame either miner returns, in this order.
RULE_COLUMNS = (
    "antecedents", "consequents", "antecedent_support", "consequent_support", "support",
    "confidence", "lift", "leverage", "conviction", "support_count",
)
#: Above this many cells (baskets x items) :func:`one_hot` returns sparse columns.
SPARSE_CELLS = 5_000_000
#: Item prefixes of the per-customer baskets (see :func:`customer_item`).
BOUGHT, ASKED, INTENT = "bought", "asked", "intent"


@dataclass(frozen=True)
class Baskets:
    """Baskets as a boolean CSR matrix: ``matrix[b, i]`` is True when basket b holds item i."""

    matrix: sparse.csr_matrix
    items: tuple[str, ...]
    basket_ids: tuple[Any, ...]

    @property
    def count(self) -> int:
        return self.matrix.shape[0]


def encode_baskets(basket_ids: Sequence[Any] | pd.Series, items: Sequence[Any] | pd.Series) -> Baskets:
    """Long rows (one per basket and item, as orders lines are stored) -> a :class:`Baskets` matrix.

    Why long input: that is how order lines and customer facts come out of the warehouse.
    Rows with a missing basket or item are dropped (a malformed order line must not fail the
    build), an item listed twice in a basket counts once, and items are sorted so the same data
    always gives the same columns.
    """
    basket_values = np.asarray(list(basket_ids), dtype=object)
    item_values = np.asarray(list(items), dtype=object)
    if len(basket_values) != len(item_values):
        raise ValueError(f"basket_ids ({len(basket_values)}) and items ({len(item_values)}) must have the same length")
    frame = pd.DataFrame({"basket": basket_values, "item": item_values})
    frame = frame.dropna()
    frame["item"] = frame["item"].astype(str).str.strip()
    frame = frame[frame["item"] != ""]
    if frame.empty:
        return Baskets(sparse.csr_matrix((0, 0), dtype=bool), (), ())
    basket_codes, basket_uniques = pd.factorize(frame["basket"], sort=True)
    item_codes, item_uniques = pd.factorize(frame["item"], sort=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(frame), dtype=bool), (basket_codes, item_codes)),
        shape=(len(basket_uniques), len(item_uniques)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = True  # duplicates were summed; presence is what counts
    return Baskets(matrix.astype(bool), tuple(str(i) for i in item_uniques), tuple(basket_uniques))


def baskets_from_lists(baskets: Iterable[Iterable[Any]]) -> Baskets:
    """Hand-written baskets (``[["tea", "milk"], ["tea"]]``) -> :class:`Baskets`; for tests and examples."""
    ids: list[int] = []
    items: list[Any] = []
    for n, basket in enumerate(baskets):
        for item in basket:
            ids.append(n)
            items.append(item)
    return encode_baskets(ids, items)


def one_hot(baskets: Baskets, sparse_columns: bool | None = None) -> pd.DataFrame:
    """The boolean frame mlxtend expects (one column per item), sparse when large.

    ``sparse_columns=None`` picks sparse above :data:`SPARSE_CELLS` cells. Why: mlxtend accepts
    pandas sparse columns and walks them as CSR, so a 1M-basket matrix never becomes a dense
    frame of Python booleans.
    """
    if sparse_columns is None:
        sparse_columns = baskets.matrix.shape[0] * max(1, baskets.matrix.shape[1]) > SPARSE_CELLS
    columns = list(baskets.items)
    if sparse_columns:
        frame = pd.DataFrame.sparse.from_spmatrix(baskets.matrix.astype(np.uint8), columns=columns)
        return frame.astype(pd.SparseDtype(bool, False))
    return pd.DataFrame(baskets.matrix.toarray().astype(bool), columns=columns)


def _check_thresholds(min_support: float, min_confidence: float, min_lift: float) -> None:
    if not 0.0 < float(min_support) <= 1.0:
        raise ValueError(f"min_support must be in (0, 1], got {min_support!r}")
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    if float(min_lift) < 0.0:
        raise ValueError(f"min_lift must be >= 0, got {min_lift!r}")


def empty_rules() -> pd.DataFrame:
    """A rules frame with no rows and the usual columns (a build with no baskets still has a schema)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in RULE_COLUMNS})
    frame["antecedents"] = pd.Series(dtype="object")
    frame["consequents"] = pd.Series(dtype="object")
    frame["support_count"] = pd.Series(dtype="int64")
    return frame[list(RULE_COLUMNS)]


def _finish(rules: pd.DataFrame, n_baskets: int) -> pd.DataFrame:
    """Common tail of both miners: conviction inf -> NaN, counts, a stable order."""
    rules = rules.copy()
    rules["conviction"] = rules["conviction"].replace([np.inf, -np.inf], np.nan)
    rules["support_count"] = np.rint(rules["support"].to_numpy() * n_baskets).astype("int64")
    rules["_key"] = rules["antecedents"].map("|".join) + ">" + rules["consequents"].map("|".join)
    rules = rules.sort_values(["lift", "confidence", "_key"], ascending=[False, False, True], kind="stable")
    return rules.drop(columns="_key")[list(RULE_COLUMNS)].reset_index(drop=True)


def mine_rules(
    baskets: Baskets,
    min_support: float,
    min_confidence: float = 0.0,
    min_lift: float = 1.0,
    max_len: int | None = 3,
    sparse_columns: bool | None = None,
) -> pd.DataFrame:
    """FP-growth itemsets with support >= ``min_support``, then every rule with confidence >=
    ``min_confidence`` and lift >= ``min_lift``; columns :data:`RULE_COLUMNS`, best lift first.

    ``max_len`` caps the itemset size (antecedent + consequent): rules of four or more items are
    rarely actionable and their number grows combinatorially. Antecedents and consequents come
    back as sorted tuples of item names.
    """
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    _check_thresholds(min_support, min_confidence, min_lift)
    n_baskets = baskets.count
    if n_baskets == 0 or not baskets.items:
        return empty_rules()
    frequent = fpgrowth(one_hot(baskets, sparse_columns), min_support=float(min_support),
                        use_colnames=True, max_len=max_len)
    if frequent.empty or frequent["itemsets"].map(len).max() < 2:
        return empty_rules()
    rules = association_rules(
        frequent, num_itemsets=n_baskets, metric="confidence", min_threshold=float(min_confidence),
        return_metrics=["antecedent support", "consequent support", "support", "confidence", "lift",
                        "leverage", "conviction"],
    )
    rules = rules[rules["lift"] >= float(min_lift)]
    if rules.empty:
        return empty_rules()
    rules = rules.rename(columns={"antecedent support": "antecedent_support",
                                  "consequent support": "consequent_support"})
    rules["antecedents"] = rules["antecedents"].map(lambda s: tuple(sorted(s)))
    rules["consequents"] = rules["consequents"].map(lambda s: tuple(sorted(s)))
    return _finish(rules, n_baskets)


def pair_rules_baseline(
    baskets: Baskets, min_support: float, min_confidence: float = 0.0, min_lift: float = 1.0,
) -> pd.DataFrame:
    """Every 1 -> 1 rule by direct counting: ``X.T @ X`` holds each pair's co-occurrence count.

    Same thresholds and output as :func:`mine_rules` restricted to single-item sides. Why keep
    it: it is exact, needs no itemset tree, and runs in a fraction of the time, so it checks
    FP-growth's pairs and is the bench's baseline.
    """
    _check_thresholds(min_support, min_confidence, min_lift)
    n_baskets = baskets.count
    if n_baskets == 0 or not baskets.items:
        return empty_rules()
    x = baskets.matrix.astype(np.int64)
    pair_counts = (x.T @ x).tocoo()  # m x m, sparse: only pairs that ever co-occur
    item_counts = np.asarray(x.sum(axis=0)).ravel()
    keep = (pair_counts.row != pair_counts.col) & (pair_counts.data / float(n_baskets) >= float(min_support))
    a, c, both = pair_counts.row[keep], pair_counts.col[keep], pair_counts.data[keep].astype(np.float64)
    if both.size == 0:
        return empty_rules()
    support = both / n_baskets
    supp_a = item_counts[a] / float(n_baskets)
    supp_c = item_counts[c] / float(n_baskets)
    confidence = support / supp_a
    lift = confidence / supp_c
    with np.errstate(divide="ignore", invalid="ignore"):
        conviction = np.where(confidence < 1.0, (1.0 - supp_c) / (1.0 - confidence), np.inf)
    items = np.asarray(baskets.items, dtype=object)
    rules = pd.DataFrame({
        "antecedents": [(s,) for s in items[a]],
        "consequents": [(s,) for s in items[c]],
        "antecedent_support": supp_a,
        "consequent_support": supp_c,
        "support": support,
        "confidence": confidence,
        "lift": lift,
        "leverage": support - supp_a * supp_c,
        "conviction": conviction,
    })
    rules = rules[(rules["confidence"] >= float(min_confidence)) & (rules["lift"] >= float(min_lift))]
    if rules.empty:
        return empty_rules()
    return _finish(rules, n_baskets)


# ---- per-customer baskets -------------------------------------------------------------------

def customer_item(kind: str, value: Any) -> str | None:
    """The item name of one customer fact: ``bought:P001``, ``asked:P001``, ``intent:order_status``.

    Why prefixes: one customer basket mixes what they bought, what they contacted us about and
    why; the prefix keeps "asked about the phone" apart from "bought the phone". Returns None for
    a missing value, so a contact without an order or an intent adds nothing.
    """
    if kind not in (BOUGHT, ASKED, INTENT):
        raise ValueError(f"unknown customer item kind {kind!r}; expected bought, asked or intent")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return f"{kind}:{text}" if text else None


def split_item(item: str) -> tuple[str | None, str]:
    """``"asked:P001"`` -> ``("asked", "P001")``; an unprefixed order item -> ``(None, item)``."""
    kind, sep, value = item.partition(":")
    if sep and kind in (BOUGHT, ASKED, INTENT):
        return kind, value
    return None, item


def item_product(item: str) -> str | None:
    """The product an item names (order items are product ids; ``bought:``/``asked:`` items too)."""
    kind, value = split_item(item)
    return value if kind in (None, BOUGHT, ASKED) else None


def actionable_customer_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """Keep the customer rules that predict a purchase of something new.

    A consequent must be ``bought:`` items only (an offer is a product, not an intent), and no
    consequent product may already appear on the left: "asked about the phone -> bought the
    phone" holds by construction (people ask about what they ordered) and says nothing.
    """
    if rules.empty:
        return rules

    def keep(row: pd.Series) -> bool:
        if not all(split_item(i)[0] == BOUGHT for i in row["consequents"]):
            return False
        left = {item_product(i) for i in row["antecedents"]} - {None}
        return not left & {item_product(i) for i in row["consequents"]}

    return rules[rules.apply(keep, axis=1)].reset_index(drop=True)


# ---- recovery of planted structure ----------------------------------------------------------

def planted_recovery(rules: pd.DataFrame, planted: Sequence[dict[str, Any]], min_lift: float = 1.0) -> dict[str, Any]:
    """How well 1 -> 1 rules recover planted ``{"antecedent", "consequent"}`` product rules.

    - ``recall``: share of planted rules found, in their direction, with lift > ``min_lift``.
    - ``precision_at_k``: of the k = len(planted) product pairs with the highest lift, the share
      that are planted pairs. Pairs, not directions: lift is symmetric, so "case -> phone" ranks
      exactly beside "phone -> case" and only confidence tells the direction.
    - ``direction_accuracy``: of the planted rules found, the share whose planted direction has
      the higher confidence of the two.
    """
    planted_pairs = {(str(p["antecedent"]), str(p["consequent"])) for p in planted}
    if not planted_pairs:
        return {"planted": 0, "found": 0, "recall": float("nan"), "precision_at_k": float("nan"),
                "direction_accuracy": float("nan"), "missing": []}
    single = rules[(rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == 1)]
    if single.empty:
        return {"planted": len(planted_pairs), "found": 0, "recall": 0.0, "precision_at_k": 0.0,
                "direction_accuracy": float("nan"), "missing": sorted(f"{a}->{c}" for a, c in planted_pairs)}
    single = pd.DataFrame({
        "a": single["antecedents"].map(lambda t: item_product(t[0])),
        "c": single["consequents"].map(lambda t: item_product(t[0])),
        "lift": single["lift"].astype(float),
        "confidence": single["confidence"].astype(float),
    }).dropna(subset=["a", "c"])
    single = single.groupby(["a", "c"], as_index=False)[["lift", "confidence"]].max()
    by_pair = {(r.a, r.c): (r.lift, r.confidence) for r in single.itertuples(index=False)}
    found = [p for p in planted_pairs if p in by_pair and by_pair[p][0] > min_lift]
    right_way = [p for p in found if by_pair[p][1] >= by_pair.get((p[1], p[0]), (0.0, -1.0))[1]]
    unordered = single.assign(pair=[tuple(sorted(x)) for x in zip(single["a"], single["c"])])
    top = (unordered.groupby("pair")["lift"].max().sort_values(ascending=False, kind="stable")
           .head(len(planted_pairs)).index)
    planted_unordered = {tuple(sorted(p)) for p in planted_pairs}
    return {
        "planted": len(planted_pairs),
        "found": len(found),
        "recall": len(found) / len(planted_pairs),
        "precision_at_k": (sum(p in planted_unordered for p in top) / len(top)) if len(top) else 0.0,
        "direction_accuracy": (len(right_way) / len(found)) if found else float("nan"),
        "missing": sorted(f"{a}->{c}" for a, c in planted_pairs - set(found)),
    }
