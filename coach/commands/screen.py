"""`coach screen`: screen one message, or JSON Lines from stdin, and print JSON verdicts."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "screen",
        help="check a message for safety risks (self-harm, abuse, emergencies...)",
        description="Print the safety screening of TEXT as JSON. Without TEXT, read JSON Lines "
        '({"id": ..., "text": ...}) from stdin and write one JSON verdict per line.',
    )
    p.add_argument("text", nargs="?", help="the message to screen")
    p.add_argument("--fast", action="store_true", help="patterns only (skip the similarity step)")
    p.set_defaults(func=run)


def _parse(line: str, number: int) -> tuple[object, str | None, str | None]:
    """(id, text, error) for one input line; id falls back to the line number."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return number, None, "this line is not valid JSON"
    if not isinstance(obj, dict):
        return number, None, 'each line must be a JSON object like {"id": ..., "text": ...}'
    ident = obj.get("id", number)
    text = obj.get("text")
    if not isinstance(text, str):
        return ident, None, 'the "text" field is missing or is not a string'
    return ident, text, None


def run(args) -> int:
    from ..safety import screen, screen_many

    semantic = not args.fast
    if args.text is not None:
        print(json.dumps(screen(args.text, semantic=semantic).to_dict(), ensure_ascii=False))
        return 0
    parsed = []
    for number, line in enumerate(sys.stdin, 1):
        if line.strip():
            parsed.append(_parse(line, number))
    valid = [text for _, text, err in parsed if err is None]
    results = iter(screen_many(valid, semantic=semantic))
    failed = False
    for ident, _, err in parsed:
        if err is not None:
            failed = True
            out = {"id": ident, "error": err}
        else:
            out = {"id": ident, **next(results).to_dict()}
        print(json.dumps(out, ensure_ascii=False))
    return 1 if failed else 0
