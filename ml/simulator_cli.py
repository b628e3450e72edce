"""``service-insight simulate``: a scripted trainee against a simulated customer, from a shell.

    service-insight simulate --persona-seed 3 --difficulty 2 --agent-replies replies.txt [--intent X] [--json]

Each line of the replies file is one reply of the trainee, sent in order until the customer is
satisfied or leaves. Why: trying personas and scoring rules without the dashboards, and a fixed script
gives the same session every time (the persona and the customer's words depend on the seed only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_simulate(args: argparse.Namespace) -> int:
    from ml.simulator import bank_from_settings, simulate

    try:
        replies = [line.strip() for line in Path(args.agent_replies).read_text(encoding="utf-8").splitlines()
                   if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read the replies file {args.agent_replies}: {exc}", file=sys.stderr)
        return 2
    bank = bank_from_settings()
    if bank is None:
        print("no published snapshot yet: run `service-insight materialize` first", file=sys.stderr)
        return 1
    if not bank.personas:
        print("no persona: the snapshot has no conversation with an intent of record whose intent has reference "
              "answers (knowledge-base steps or replies of resolved contacts)", file=sys.stderr)
        return 1
    if args.intent and args.intent not in bank.intents:
        print(f"no persona with intent {args.intent!r}; intents with personas: {', '.join(bank.intents)}",
              file=sys.stderr)
        return 2
    result = simulate(bank, replies, args.persona_seed, args.difficulty, args.intent)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"customer ({result['intent']}, {result['language']}, difficulty {result['difficulty']}): {result['opening']}")
    for t in result["turns"]:
        print(f"  trainee: {t['reply']}\n    [{t['outcome']}; answer similarity {t['similarity']:.2f}"
              + (f"; forbidden: {', '.join(t['forbidden'])}" if t["forbidden"] else "") + f"; mood {t['mood_after']}]"
              f"\n  customer: {t['customer_reply']}")
    print(f"goal met: {result['goal_met']}; score {result['score']:.2f}; policy compliant: {result['policy_compliant']}")
    return 0


def add_simulator_parser(sub) -> None:
    s = sub.add_parser("simulate", help="play a scripted trainee against a simulated customer of this warehouse")
    s.add_argument("--persona-seed", type=int, default=0, help="which persona (and customer wording) to draw")
    s.add_argument("--difficulty", type=int, choices=(1, 2, 3), default=1)
    s.add_argument("--intent", help="draw the persona among this intent's")
    s.add_argument("--agent-replies", required=True, help="text file, one trainee reply per line")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_simulate)
