"""The trainee simulator's turn latency: how long a trainee waits for the simulated customer.

    SI_DATA_DIR=data python bench/simulator.py [--sessions N]

Over the current snapshot (``make run`` builds one): the persona bank is built once (its time is
printed), then N scripted sessions (acknowledge, ask, answer from the references, at difficulties 1-3)
run turn by turn. Printed: p50/p95 seconds per trainee turn, beside the baseline of embedding the same
reply text alone with the same encoder (the ratio says what the scoring adds), and the goal rate per
difficulty. Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=60)
    args = parser.parse_args()
    from ml.simulator import bank_from_settings

    started = time.perf_counter()
    bank = bank_from_settings()
    if bank is None or not bank.personas:
        print("no snapshot or no persona: run `make run` (or `service-insight materialize`) first")
        return 1
    print(f"persona bank: {len(bank.personas)} personas, {len(bank.intents)} intents, {len(bank.ref_texts)} "
          f"reference answers, threshold {bank.helpful_threshold:.3f}, built in {time.perf_counter() - started:.1f} s")
    turn_seconds, embed_seconds, goals = [], [], {1: [], 2: [], 3: []}
    for n in range(args.sessions):
        difficulty, seed = 1 + n % 3, 1000 + n
        persona = bank.persona(seed)
        gold = next(t for t, i in zip(bank.ref_texts, bank.ref_intents) if i == persona.intent)
        script = ["I'm sorry about that. Could you tell me more?", "I understand. What else happened?", gold, gold]
        session = bank.start(persona.at(difficulty), seed)
        for k, text in enumerate(script):
            if session.over:
                break
            text = f"{text} ({n}.{k})"  # a text the encoder's cache has not seen, as a trainee's would be
            t0 = time.perf_counter()
            bank.reply(session, text)
            turn_seconds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bank.embedder.inner.passages([text + " "])
            embed_seconds.append(time.perf_counter() - t0)
        goals[difficulty].append(session.goal_met)
    p50, p95 = np.percentile(turn_seconds, [50, 95])
    e50, e95 = np.percentile(embed_seconds, [50, 95])
    print(f"trainee turn: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms over {len(turn_seconds)} turns "
          f"({bank.empathy_source})")
    print(f"baseline, embedding the reply alone: p50 {e50 * 1000:.1f} ms, p95 {e95 * 1000:.1f} ms; "
          f"ratio p95 {p95 / e95:.2f}")
    print("goal met by the scripted good trainee: " + ", ".join(
        f"difficulty {d} {np.mean(v):.0%} ({len(v)})" for d, v in goals.items() if v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
