"""`coach ask "QUERY"`: search the guidance cards (hybrid dense + BM25 ranking)."""

from __future__ import annotations

import argparse
import json

from ..knowledge import AUDIENCES, STAGES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="find the guidance cards that answer a question")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=3, help="how many cards (default 3)")
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--audience", choices=AUDIENCES)
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print a JSON list, best first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..retrieval import get_index, validate_query

    validate_query(args.query)  # fail fast, before loading the index
    if not 1 <= args.k <= 50:
        raise InputError("-k must be between 1 and 50.")
    hits = get_index().search(args.query, k=args.k, stage=args.stage,
                              audience=args.audience, mode=args.mode)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("No guidance matched. Try other words, or drop --stage/--audience.")
        return 0
    for n, h in enumerate(hits, 1):
        print(f"{n}. {h.card.title}  [{h.card.id} · {h.card.stage}]")
        if h.card.tip:
            print(f"   {h.card.tip}")
    return 0
