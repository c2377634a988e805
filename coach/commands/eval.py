"""`coach eval [SUITE...]`: run offline evaluation suites and print their scores."""

from __future__ import annotations

import argparse
import json

SUITES = ["retrieval"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="run offline evaluation suites (e.g. `coach eval retrieval`)")
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"one of: {', '.join(SUITES)}")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"],
                   help="retrieval ranking to evaluate")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError

    suites = args.suites or SUITES
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise InputError(f"Unknown suite {unknown[0]!r}; choose from: {', '.join(SUITES)}.")
    results = {}
    if "retrieval" in suites:
        from ..evals.retrieval import evaluate, load_cases
        from ..retrieval import get_index

        res = evaluate(get_index(), load_cases(), mode=args.mode)
        results["retrieval"] = res
        if not args.json:
            print(f"retrieval ({res['mode']}, {res['cases']} queries): "
                  f"recall@3 {res['recall@3']:.3f}  full_recall@3 {res['full_recall@3']:.3f}  "
                  f"MRR {res['mrr']:.3f}")
            for miss in res["misses"]:
                print(f"  miss: {miss['query'][:70]!r} wanted {miss['relevant']} got {miss['top']}")
    if args.json:
        for r in results.values():
            r.pop("rows", None)
        print(json.dumps(results, indent=2))
    return 0
