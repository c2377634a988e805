"""`coach serve`: the web app (chat, voice, sessions, check-ins) on a local address."""

from __future__ import annotations

import argparse
import sys

from ..errors import CoachError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="open the coach in your web browser")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--llm", help="backend: local (default), openai, scripted")
    p.add_argument("--region", help="default region for support services, e.g. us, uk, au")
    p.add_argument("--insecure-no-login", action="store_true",
                   help="allow a non-local --host without a login (anyone who can reach it "
                        "can read every session)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..web import create_app, is_loopback
    from ..web.auth import load_credentials

    if not 0 < args.port < 65536:
        raise CoachError(f"--port must be between 1 and 65535, not {args.port}.")
    credentials = load_credentials()
    if not is_loopback(args.host) and not credentials and not args.insecure_no_login:
        raise CoachError(
            f"Refusing to listen on {args.host} without a login: set COACH_AUTH=user:password "
            "(or COACH_AUTH_FILE), or pass --insecure-no-login if you really mean it.")
    if not is_loopback(args.host) and not credentials:
        print(f"Warning: {args.host} is reachable from other computers and there is no login: "
              "anyone who can reach it can read and delete every session.", file=sys.stderr)
    try:
        import uvicorn
    except ImportError:
        raise CoachError("The web app is not installed: pip install 'trust-coach[web]'.") from None
    from ..engine import Coach

    print("Starting Trust Coach (loading guidance)…", file=sys.stderr, flush=True)
    coach = Coach(llm=args.llm, region=args.region)
    try:
        if coach.backend_name != "scripted":
            print("Checking that the language model answers…", file=sys.stderr, flush=True)
        problem = coach.self_test()
        if problem:
            print(f"Warning: {problem}\nReplies will come from the scripted composer until "
                  "that is fixed.", file=sys.stderr, flush=True)
        app = create_app(coach, credentials, region=args.region)
        shown = "localhost" if is_loopback(args.host) else args.host
        login = " (login required)" if credentials else ""
        print(f"Trust Coach is running at http://{shown}:{args.port}/{login}  "
              f"(replies by: {coach.backend_name}; Ctrl+C to stop)", file=sys.stderr, flush=True)
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise CoachError(f"Could not listen on {args.host}:{args.port} (is it in use?).")
    finally:
        coach.close()
    return 0
