"""What the translation model's training budget buys: chrF per direction at several budgets, one run.

    python bench/translation_budget.py --warehouse DATA/warehouse/warehouse.duckdb [--budgets 30,60,120]
                                       [--tatoeba ../shared/data/tatoeba_cmn_en]

The model is trained the way the build trains it (``ml.translation.train_translation_model``, the
settings' model size, the learning rate decaying to zero over the budget) on (1) the translation
memory of a built warehouse, split as the build splits it, and (2) a Tatoeba-format file (real
sentence pairs nobody here wrote), on its held-out split. For each budget it prints steps, seconds
and chrF per direction, and the gap to the largest budget: the default budget should be the smallest
one within a point of the largest. Run it on a quiet machine: the budget is wall-clock time, so
anything else running takes steps away. Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from ml.translation import (TranslationConfig, tatoeba_pairs, train_translation_model,  # noqa: E402
                            translation_memory_split)


def curve(name: str, train, held_out, budgets: list[int], threads: int) -> None:
    print(f"\n{name}: {len(train):,} training pairs, {len(held_out):,} held out")
    rows = []
    for budget in budgets:
        cfg = TranslationConfig(max_seconds=budget, threads=threads)
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = train_translation_model(train, Path(out) / "model", held_out, cfg)
        directions = {d: s["chrf"] for d, s in sorted(result.metrics.get("directions", {}).items())}
        mean = sum(directions.values()) / max(1, len(directions))
        rows.append((budget, result.metrics["steps"], result.metrics["train_seconds"],
                     time.perf_counter() - started, directions, mean))
        print(f"  budget {budget:>4} s: {result.metrics['steps']:>6} steps in {result.metrics['train_seconds']:.0f} s "
              f"(with evaluation {rows[-1][3]:.0f} s), mean chrF {mean:.1f}  "
              + "  ".join(f"{d} {c:.1f}" for d, c in directions.items()), flush=True)
    best = rows[-1][5]
    for budget, _, _, _, _, mean in rows:
        print(f"  budget {budget:>4} s: mean chrF {mean - best:+.1f} against the {rows[-1][0]} s budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, help="a built warehouse whose translation memory to train on")
    parser.add_argument("--tatoeba", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "tatoeba_cmn_en")
    parser.add_argument("--tatoeba-pairs", type=int, default=20000, help="training pairs taken from the file")
    parser.add_argument("--budgets", default="30,60,120")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    if args.warehouse:
        with duckdb.connect(str(args.warehouse), read_only=True) as conn:
            split = translation_memory_split(conn)
        curve(f"translation memory of {args.warehouse}", split.train, split.eval, budgets, args.threads)
    if args.tatoeba.exists():
        train = tatoeba_pairs(args.tatoeba, "train")[: args.tatoeba_pairs]
        held_out = tatoeba_pairs(args.tatoeba, "test")
        curve(f"Tatoeba {args.tatoeba.name}", train, held_out, budgets, args.threads)
    else:
        print(f"\nTatoeba: not measured ({args.tatoeba} is missing)")


if __name__ == "__main__":
    main()
