"""`coach sessions`: list, show, export and delete the conversations kept on this machine."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ..errors import CoachError, InputError

_FLATTEN = re.compile(r"[\x00-\x1f\x7f]+")


def register(subparsers) -> None:
    """Add `coach sessions ...` to the CLI."""
    parser = subparsers.add_parser(
        "sessions", help="list, show, export or delete saved sessions",
        description="Your saved conversations. They stay on this machine unless you export them.",
    )
    parser.set_defaults(func=run, action=None, _parser=parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    p = sub.add_parser("list", help="one line per session: id, date, title, turns")
    p.add_argument("--json", action="store_true", help="print JSON instead")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")

    p = sub.add_parser("show", help="print a session's transcript")
    p.add_argument("id", metavar="ID")

    p = sub.add_parser("export", help="write a session as Markdown or JSON")
    p.add_argument("id", metavar="ID")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="replace FILE if it already exists")

    p = sub.add_parser("delete", help="delete a session and everything kept about it")
    p.add_argument("id", metavar="ID")
    p.add_argument("--yes", action="store_true", help="do not ask to confirm")


def run(args) -> int:
    """Dispatch to the chosen action; returns the exit status."""
    if not args.action:
        args._parser.print_help()
        return 2
    if hasattr(sys.stdout, "reconfigure"):
        # A transcript must print even on a terminal that cannot show every character.
        sys.stdout.reconfigure(errors="replace")
    from ..store import SessionStore

    with SessionStore() as store:
        return _ACTIONS[args.action](store, args)


def _list(store, args) -> int:
    sessions = store.list_sessions(limit=args.limit)
    if args.json:
        print(json.dumps([
            {"id": s.id, "created_at": s.created_at.isoformat(),
             "updated_at": s.updated_at.isoformat(), "title": s.title, "stage": s.stage,
             "turns": s.turns}
            for s in sessions
        ], ensure_ascii=False, indent=2))
        return 0
    if not sessions:
        print("No saved sessions yet.", file=sys.stderr)
    for s in sessions:
        title = _FLATTEN.sub(" ", s.title).strip()[:60] or "(untitled)"
        date = s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"{s.id}  {date}  {title}  {s.turns} turns")
    return 0


def _show(store, args) -> int:
    from ..store.export import to_text

    sys.stdout.write(to_text(store.snapshot(args.id)))
    return 0


def _export(store, args) -> int:
    text = store.export(args.id, args.format)
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = Path(args.output).expanduser()
    _write_private(path, text, replace=args.force)
    print(f"Saved to {path}. It holds private conversation text: keep it somewhere safe.",
          file=sys.stderr)
    return 0


def _delete(store, args) -> int:
    info = store.get_session(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("Deleting cannot be undone; add --yes to confirm.")
        count = len(store.turns(args.id))
        title = _FLATTEN.sub(" ", info.title).strip() or "untitled"
        answer = input(f"Delete session {info.id} ({title}, {count} turns) and everything "
                       "kept about it? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was deleted.", file=sys.stderr)
            return 1
    store.delete_session(args.id)
    print(f"Deleted session {info.id}.", file=sys.stderr)
    return 0


def _write_private(path: Path, text: str, replace: bool) -> None:
    """Write `text` to a 0600 file; never clobber an existing file unless asked."""
    # With --force, write beside it and swap in at once, so the old file is never half-written.
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if replace else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CoachError(f"{path} already exists; choose another name or add --force.") from None
    except FileNotFoundError:
        raise CoachError(f"Cannot write {path}: its folder does not exist.") from None
    except OSError as exc:
        raise CoachError(f"Cannot write {path}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(target, path)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise CoachError(f"Cannot write {path}: {exc.strerror}.") from None


_ACTIONS = {"list": _list, "show": _show, "export": _export, "delete": _delete}
