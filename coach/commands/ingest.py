"""`coach ingest [PATH...]`: build or refresh the card index; add the user's own material."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest", help="build or refresh the guidance index (and add your own .md/.txt files)",
        description="Without PATH: index the curated guidance cards (only changed cards are "
        "re-embedded). With PATH: add your own .md/.txt files or folders, kept apart from the "
        "curated cards.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    p.add_argument("--remove-user", action="store_true",
                   help="remove all material you added earlier (or only PATH's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import chroma_url
    from ..errors import IndexUnavailable
    from ..retrieval import USER, get_index, rebuild_local_index

    try:
        index = get_index(build=False)
        index.count()
    except IndexUnavailable:
        if chroma_url() or args.paths or args.remove_user:
            raise
        # A damaged local index: it only holds copies of the cards, so build it again.
        index = rebuild_local_index()
        print("The local guidance index was damaged, so it was rebuilt from the cards. "
              "Add your own files again with `coach ingest PATH` if you had any.",
              file=sys.stderr)
    if args.remove_user:
        n = sum(index.remove_user(str(p)) for p in args.paths) if args.paths else index.remove_user()
        print(f"removed {n} chunks of your material")
        return 0
    report = index.ingest_user(args.paths) if args.paths else index.ingest_curated()
    what = "your material" if args.paths else "guidance cards"
    for err in report.errors or []:
        print(f"skipped: {err}", file=sys.stderr)
    total = index.count(USER if args.paths else "trust_coach_cards")
    print(f"{what}: {report.summary()} ({total} in the index, {report.seconds:.1f}s)")
    if report.errors and not (report.added or report.updated or report.unchanged):
        return 1
    return 1 if report.errors and args.paths else 0
