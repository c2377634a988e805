"""`coach chat`: talk to the coach in the terminal, or replay a script of user turns as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk with the coach in the terminal")
    p.add_argument("--llm", help="backend: local (default), openai, scripted")
    p.add_argument("--session", help="resume (or, with --script, continue) this session id")
    p.add_argument("--script", type=Path, metavar="FILE",
                   help="non-interactive: each non-empty line of FILE is one user turn")
    p.add_argument("--json", action="store_true", help="with --script: one JSON object per turn")
    p.add_argument("--region", help="region for crisis resources, e.g. us, uk, ca, au, ie, nz")
    p.add_argument("--voice-in", type=Path, metavar="WAV",
                   help="transcribe this audio file and send it as one turn")
    p.add_argument("--remember", action="store_true",
                   help="opt in to a short summary being offered in your next session")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import Coach
    from ..errors import InputError

    turns: list[str] | None = None
    if args.script:
        try:
            raw = args.script.read_bytes()
            text = raw.decode("utf-8-sig")
        except OSError as exc:
            raise InputError(f"Can't read the script {args.script}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise InputError(f"The script {args.script} is not UTF-8 text.") from None
        turns = [line.strip() for line in text.splitlines() if line.strip()]
    if args.voice_in:
        from ..voice import transcribe

        heard = transcribe(args.voice_in).text.strip()
        if not args.json:
            print(f"(heard) {heard}")
        turns = (turns or []) + [heard]

    coach = Coach(llm=args.llm, region=args.region)
    try:
        if args.session:
            session = coach.store.get_session(args.session).id
            welcome = None
        else:
            session, welcome = coach.start_session(region=args.region,
                                                   history_opt_in=args.remember)
        if turns is not None:
            return _run_script(coach, session, turns, args.json, welcome)
        return _interactive(coach, session, welcome)
    finally:
        coach.close()


def _run_script(coach, session: str, turns: list[str], as_json: bool, welcome: str | None) -> int:
    from ..errors import CoachError
    from ..store import StoreError

    if welcome and not as_json:
        print(f"coach> {welcome}\n")
    status = 0
    for text in turns:
        try:
            result = coach.reply(session, text)
        except StoreError:
            raise  # nothing more can be kept: stop with one line instead of failing every turn
        except CoachError as exc:
            status = 1
            if as_json:
                print(json.dumps({"session": session, "user": text, "error": str(exc)}), flush=True)
            else:
                print(f"coach: {exc}", file=sys.stderr)
            continue
        if as_json:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(f"you> {text}\ncoach> {result.reply}\n", flush=True)
    return status


def _interactive(coach, session: str, welcome: str | None) -> int:
    from ..engine import Delta, TurnResult
    from ..errors import CoachError
    from ..store import StoreError

    print(f"(session {session} · backend {coach.backend_name} · type /quit to leave, "
          f"/export to save a copy)\n")
    if welcome:
        print(f"coach> {welcome}\n")
    while True:
        try:
            text = input("you> ")
        except EOFError:
            print()
            return 0
        if text.strip() in ("/quit", "/exit", "/q"):
            return 0
        if text.strip() == "/export":
            print(coach.store.export(session, "md"))
            continue
        if not text.strip():
            continue
        print("coach> ", end="", flush=True)
        try:
            shown = ""
            for event in coach.respond(session, text):
                if isinstance(event, Delta):
                    print(event.text, end="", flush=True)
                    shown += event.text
                elif isinstance(event, TurnResult) and event.revised:
                    print(f"\n[revised] {event.reply}", end="")
            print("\n")
        except StoreError:
            print()
            raise  # the conversation can't be saved: say so once and stop
        except CoachError as exc:
            print(f"\n(coach: {exc})\n")
