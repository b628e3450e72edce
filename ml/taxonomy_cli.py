"""``service-insight taxonomy``: check the company's intent taxonomy, or draft one from the contacts.

    service-insight taxonomy check [FILE]          validate (default: SI_TAXONOMY); exit 1 on problems
    service-insight taxonomy suggest [--out FILE]  a draft TOML from the last build's discovered clusters

Why ``suggest``: a company with no taxonomy still gets clusters of its contacts at the first build,
each named by the words that set it apart; the draft turns them into ``[[intent]]`` entries with
their nearest messages as examples (PII-masked, as the warehouse holds them), for a person to
rename and prune. It never overwrites an existing file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_check(args: argparse.Namespace) -> int:
    from ml.taxonomy import load_taxonomy
    from service_insight.settings import get_settings

    path = Path(args.file) if args.file else get_settings().taxonomy_path
    if not path.exists():
        print(f"{path}: no taxonomy file (intents then come from the knowledge base, reviews and discovered "
              "clusters; `service-insight taxonomy suggest` drafts one)", file=sys.stderr)
        return 1
    tax = load_taxonomy(path)
    for problem in tax.errors:
        print(problem, file=sys.stderr)
    with_examples = sum(1 for i in tax.intents if i.examples)
    routed = sum(1 for i in tax.intents if i.team)
    print(f"{path}: {len(tax.intents)} intents ({with_examples} with example phrases, {routed} with a team), "
          f"{len(tax.errors)} problem(s)")
    return 1 if tax.errors else 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from ml.taxonomy import suggest_toml
    from service_insight.settings import get_settings
    from warehouse.snapshot import current, open_readonly

    settings = get_settings()
    ref = current(settings.snapshot_dir)
    if ref is None:
        print("no build published yet: run `service-insight materialize` first", file=sys.stderr)
        return 2
    with open_readonly(ref) as conn:
        has = conn.execute("select count(*) from information_schema.tables where table_schema = 'marts' "
                           "and table_name = 'fct_intent_clusters'").fetchone()[0]
        rows = conn.execute("select cluster_id, contacts, nearest_intent, is_candidate_new, examples, terms "
                            "from marts.fct_intent_clusters order by contacts desc").fetchall() if has else []
        known = [r[0] for r in conn.execute("select distinct intent from marts.dim_intent_prototypes").fetchall()] \
            if conn.execute("select count(*) from information_schema.tables where table_schema = 'marts' "
                            "and table_name = 'dim_intent_prototypes'").fetchone()[0] else []
    if not rows:
        print("the last build found no clusters (it needs at least 20 contacts with a customer message)",
              file=sys.stderr)
        return 2
    clusters = [{"cluster_id": r[0], "size": r[1], "nearest_intent": r[2], "is_candidate_new": r[3],
                 "examples": json.loads(r[4]) if r[4] else [], "terms": list(r[5] or [])} for r in rows]
    text = suggest_toml(clusters, known)
    if args.out:
        out = Path(args.out)
        if out.exists():
            print(f"{out} exists: not overwritten (choose another --out)", file=sys.stderr)
            return 2
        out.write_text(text, encoding="utf-8")
        print(f"draft taxonomy with {text.count('[[intent]]')} intents written to {out}")
    else:
        sys.stdout.write(text)
    return 0


def add_taxonomy_parser(sub) -> None:
    t = sub.add_parser("taxonomy", help="check the intent taxonomy file, or draft one from the discovered clusters")
    tsub = t.add_subparsers(dest="taxonomy_command", required=True)
    c = tsub.add_parser("check", help="validate the taxonomy file (default: SI_TAXONOMY)")
    c.add_argument("file", nargs="?")
    c.set_defaults(func=cmd_check)
    s = tsub.add_parser("suggest", help="a draft taxonomy TOML from the last build's clusters")
    s.add_argument("--out", help="write it to this file (never overwritten); default: standard output")
    s.set_defaults(func=cmd_suggest)
