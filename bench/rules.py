"""Association-rule mining at scale: mlxtend FP-growth beside plain sparse pair counting.

    python bench/rules.py [--sizes 10000,100000,1000000] [--min-support 0.002]
                          [--min-confidence 0.1] [--min-lift 2.0] [--max-len 3] [--json OUT]

Baskets are drawn the way the generator draws orders (``sample_data/core.py``,
``_make_orders``): a first product by catalogue popularity, each planted bundle partner of that
product with the bundle's probability, then zero to two extra products by popularity. So the
structure to find is the generator's own (``planted_bundles()``), and every size reports how
much of it each miner recovered beside its time and memory.

Each (miner, size) runs in its own child process, so the peak resident memory reported is that
run's alone (``ru_maxrss``: Python, pandas and the baskets included); "mining MB" is the growth
of the resident set during mining. The baskets are a boolean CSR matrix and mlxtend gets sparse
columns above ``ml.basket_rules.SPARSE_CELLS`` cells, which keeps 1M baskets well inside 8 GB.
Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402

from ml.basket_rules import Baskets, mine_rules, pair_rules_baseline, planted_recovery  # noqa: E402
from sample_data import phrasebank as pb  # noqa: E402
from sample_data.core import planted_bundles  # noqa: E402

MINERS = ("fpgrowth", "pairs")


def synthetic_baskets(n: int, seed: int = 7) -> Baskets:
    """``n`` baskets drawn like the generator's orders, vectorised so 1M takes a second or two."""
    rng = np.random.default_rng(seed)
    products = [p["product_id"] for p in pb.PRODUCTS]
    index = {pid: i for i, pid in enumerate(products)}
    popularity = np.array([1.0 / (1 + i % 13) for i in range(len(products))])
    popularity /= popularity.sum()
    first = rng.choice(len(products), size=n, p=popularity)
    rows = [np.arange(n)]
    cols = [first]
    for rule in planted_bundles():
        hit = (first == index[rule["antecedent"]]) & (rng.random(n) < rule["probability"])
        rows.append(np.flatnonzero(hit))
        cols.append(np.full(int(hit.sum()), index[rule["consequent"]]))
    extras = rng.choice(np.array([0, 0, 1, 1, 2]), size=n)
    for k in (1, 2):
        who = np.flatnonzero(extras >= k)
        rows.append(who)
        cols.append(rng.choice(len(products), size=who.size, p=popularity))
    r, c = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csr_matrix((np.ones(r.size, dtype=np.uint8), (r, c)), shape=(n, len(products)))
    matrix.sum_duplicates()
    return Baskets(matrix.astype(bool), tuple(products), tuple(range(0)))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6


def run_one(miner: str, size: int, args: argparse.Namespace) -> dict:
    """One timed mining run (called in a child process by :func:`main`)."""
    baskets = synthetic_baskets(size, args.seed)
    before = _rss_mb()
    start = time.perf_counter()
    if miner == "fpgrowth":
        rules = mine_rules(baskets, args.min_support, args.min_confidence, args.min_lift, args.max_len)
    else:
        rules = pair_rules_baseline(baskets, args.min_support, args.min_confidence, args.min_lift)
    seconds = time.perf_counter() - start
    after = _rss_mb()
    recovery = planted_recovery(rules, planted_bundles(), min_lift=1.0)
    pairs = rules[(rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == 1)]
    return {
        "miner": miner, "baskets": size, "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mining_mb": round(max(0.0, after - before), 1),
        "rules": int(len(rules)), "pair_rules": int(len(pairs)),
        "recall": recovery["recall"], "precision_at_k": recovery["precision_at_k"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated basket counts (default 10000,100000,1000000)")
    parser.add_argument("--min-support", type=float, default=0.002)
    parser.add_argument("--min-confidence", type=float, default=0.1)
    parser.add_argument("--min-lift", type=float, default=2.0)
    parser.add_argument("--max-len", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # "miner:size", run in a child process
    args = parser.parse_args(argv)

    if args.worker:
        miner, size = args.worker.split(":")
        print(json.dumps(run_one(miner, int(size), args)))
        return 0

    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    passthrough = ["--min-support", str(args.min_support), "--min-confidence", str(args.min_confidence),
                   "--min-lift", str(args.min_lift), "--max-len", str(args.max_len), "--seed", str(args.seed)]
    rows = []
    header = (f"{'baskets':>9} {'miner':>9} {'seconds':>9} {'peak MB':>8} {'mining MB':>9} "
              f"{'rules':>6} {'1->1':>5} {'recall':>6} {'prec@k':>6}")
    print(f"thresholds: support >= {args.min_support}, confidence >= {args.min_confidence}, "
          f"lift >= {args.min_lift}, max_len {args.max_len}")
    print(header)
    for size in sizes:
        for miner in MINERS:
            proc = subprocess.run([sys.executable, __file__, "--worker", f"{miner}:{size}", *passthrough],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{size:>9} {miner:>9} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['baskets']:>9} {row['miner']:>9} {row['seconds']:>9.3f} {row['peak_rss_mb']:>8.0f} "
                  f"{row['mining_mb']:>9.0f} {row['rules']:>6} {row['pair_rules']:>5} "
                  f"{row['recall']:>6.2f} {row['precision_at_k']:>6.2f}")
    print()
    for size in sizes:
        got = {r["miner"]: r for r in rows if r["baskets"] == size}
        if set(got) == set(MINERS) and got["pairs"]["seconds"] > 0:
            ratio = got["fpgrowth"]["seconds"] / got["pairs"]["seconds"]
            same = got["fpgrowth"]["pair_rules"] == got["pairs"]["pair_rules"]
            print(f"{size:>9} baskets: fpgrowth / pairs time ratio {ratio:.0f}x, same number of 1->1 rules: {same}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
