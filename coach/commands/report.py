"""`coach report safety`: how many crisis referrals the coach made, for an operator's reports.

Counted per month, risk category and level when the coach listed crisis services. No session
id, no identifiers and no message text are kept with the count, and deleting a conversation
does not change it (California B&P 22603 asks operators to report the number of crisis
referrals each year).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="anonymous counts for an operator (crisis referrals)",
        description="Anonymous counts an operator can publish or hand on; no identifiers, no "
                    "message text.")
    sub = p.add_subparsers(dest="what", metavar="WHAT")
    s = sub.add_parser("safety", help="crisis referrals per month and risk category")
    s.add_argument("--year", type=int, help="only this year")
    s.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=run, what=None, _parser=p)


def referral_report(store: Any, year: int | None = None) -> dict[str, Any]:
    """{"rows": [{month, category, level, count}], "total": n, "by_category": {...}}."""
    rows = [r for r in store.referral_counts()
            if year is None or r["month"].startswith(f"{year:04d}-")]
    by_category: dict[str, int] = {}
    for r in rows:
        by_category[r["category"]] = by_category.get(r["category"], 0) + r["count"]
    return {"year": year, "rows": rows, "total": sum(r["count"] for r in rows),
            "by_category": by_category}


def run(args: Any) -> int:
    if args.what != "safety":
        args._parser.print_help()
        return 2
    from ..store import SessionStore

    store = SessionStore()
    try:
        report = referral_report(store, args.year)
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(report, indent=2))
    elif args.format == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["month", "category", "level", "count"])
        w.writeheader()
        w.writerows(report["rows"])
        sys.stdout.write(buf.getvalue())
    else:
        scope = f"in {args.year}" if args.year else "so far"
        print(f"Crisis referrals {scope}: {report['total']} (no identifiers or message text "
              "are kept with these counts)")
        for r in report["rows"]:
            print(f"  {r['month']}  {r['category']:<18} {r['level']:<8} {r['count']}")
    return 0
