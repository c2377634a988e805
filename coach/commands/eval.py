"""`coach eval [SUITE...]`: run offline evaluation suites and write reports."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

SUITES = ["retrieval", "screening", "conversations", "redteam", "calibration", "listening",
          "rubric", "feedback"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="run offline evaluation suites and write a report",
        description="Run evaluation suites (default: retrieval, screening, conversations, "
                    "redteam, listening) and write report.md, report.html and results.json.")
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of: {', '.join(SUITES)}")
    p.add_argument("--llm", action="append", metavar="NAME",
                   help="language model backend to evaluate (repeat to compare side by side): "
                        "scripted (default, no model), local, openai")
    p.add_argument("--baseline", default="plain", choices=["plain", "none"],
                   help="also run the plain chatbot on the same model (default: plain)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for the reports (default: COACH_HOME/evals/run-<time>)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--transcripts", type=Path, metavar="PATH",
                   help="score another chatbot's conversations on the safety rubric: a JSONL, "
                        "JSON message list or user:/assistant: text file, or a folder of them")
    p.add_argument("--style", default="report", choices=["report", "strict"],
                   help="house style (questions per turn, length, opener) in transcripts: "
                        "report it apart (default) or count it as violations (strict)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N cases per suite")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="only the conversation or red-team scenario with this name (repeatable)")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"],
                   help="retrieval ranking to evaluate")
    p.set_defaults(func=run)


def _brief(results: dict[str, Any]) -> dict[str, Any]:
    """Scores without the per-case detail (for --json)."""
    out: dict[str, Any] = {}
    for name, res in results["suites"].items():
        if name == "retrieval":
            out[name] = {k: v for k, v in res.items() if k != "rows"}
        elif name == "screening":
            out[name] = {p: {k: v for k, v in r.items() if k != "rows"} for p, r in res.items()}
        elif name == "calibration":
            out[name] = {k: v for k, v in res.items() if k not in ("rows",)}
        elif name == "feedback":
            out[name] = res
        elif name == "rubric":
            out[name] = {part: {"cases": r["cases"], "dimensions": r["dimensions"],
                                **({"judge": r["judge"]} if "judge" in r else {})}
                         for part, r in res.items()}
        elif name == "listening":
            out[name] = {llm: {k: v for k, v in r.items() if k not in ("rows", "unanswered")}
                         for llm, r in res.items()}
        else:
            out[name] = {s: v.get("summary", v) for s, v in res["systems"].items()}
    if "transcripts" in results:
        out["transcripts"] = results["transcripts"]["summary"]
        out["conversations"] = [{"conversation": c["conversation"], "violations": c["violations"]}
                                for c in results["conversations"]]
    return out


def _print_summary(results: dict[str, Any], paths: dict[str, Path]) -> None:
    from ..evals.report import comparison

    s = results["suites"]
    if "retrieval" in s:
        res = s["retrieval"]
        print(f"retrieval ({res['mode']}, {res['cases']} queries): "
              f"recall@3 {res['recall@3']:.3f}  full_recall@3 {res['full_recall@3']:.3f}  "
              f"MRR {res['mrr']:.3f}")
        for miss in res["misses"]:
            print(f"  miss: {miss['query'][:70]!r} wanted {miss['relevant']} got {miss['top']}")
    for part, r in s.get("screening", {}).items():
        print(f"screening {part} ({r['cases']} messages): risky recall {r['risky_recall']:.3f}  "
              f"at the right level {r['at_level_recall']:.3f}  "
              f"false alarms {r['false_alarms']}/{r['benign']}")
    for llm, r in s.get("listening", {}).items():
        print(f"listening on {llm} ({r['cases']} conversations, {r['turns']} turns): questions "
              f"answered {r['questions_answered']}/{r['questions']}  re-asked facts "
              f"{r['reasked_facts']}  wrong-audience citations {r['wrong_audience_citations']}  "
              f"identity honest {r['identity_honest']}/{r['identity_questions']}  most common "
              f"opener {r['top_opener_share']:.0%}  reading intent {r['reading_intent_accuracy']:.2f}")
    if "feedback" in s:
        f = s["feedback"]
        rate = "n/a" if f["like_rate"] is None else f"{f['like_rate']:.0%}"
        print(f"feedback ({f['rated']} replies rated on this machine): liked {f['liked']}, "
              f"not liked {f['disliked']} (like rate {rate}); "
              + ", ".join(f"{k} {v}" for k, v in f["by_value"].items()))
    for part, r in s.get("rubric", {}).items():
        print(f"rubric on {part} ({r['cases']} labelled conversations), harm found "
              "(precision / recall):")
        for d, m in r["dimensions"].items():
            pr = "  ".join("  -  " if m[k] is None else f"{m[k]:.2f}"
                           for k in ("precision", "recall"))
            print(f"  {d:28s} {pr}   verdicts agree {m['accuracy']:.0%}")
    if "calibration" in s:
        c = s["calibration"]
        print(f"grounding calibration ({c['pairs']} pairs): AUC {c['auc']:.3f}  best threshold "
              f"{c['best_threshold']:.2f}  in use {c['threshold']:.2f} (balanced accuracy "
              f"{c['balanced_accuracy']:.3f})")
    for suite in ("conversations", "redteam"):
        if suite in s:
            header, rows = comparison(s[suite])
            print(f"{suite} ({s[suite]['cases']} scenarios):")
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            for r in [header, *rows]:
                print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    if "transcripts" in results:
        sm = results["transcripts"]["summary"]
        print(f"transcripts: {sm['cases']} conversations, "
              f"{sm['cases_all_passed']} without violations"
              + (" (house style counted: --style strict)" if sm.get("style_mode") == "strict"
                 else ""))
        for d, row in sm["rubric"].items():
            rate = "  n/a" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            print(f"  {d:28s} met {row['met']:3d}  not met {row['not_met']:3d} "
                  f"(high {row['high']})  n/a {row['na']:3d}  pass {rate}")
        for c in results["conversations"]:
            if c["violations"]:
                print(f"  {c['conversation']}: {', '.join(c['violations'])}")
    print(f"report: {paths['html']}")


def run(args: argparse.Namespace) -> int:
    from ..config import coach_home
    from ..errors import InputError
    from ..evals.report import write_reports
    from ..evals.runner import EvalOptions, run_eval, stderr_progress

    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        raise InputError(f"Unknown suite {unknown[0]!r}; choose from: {', '.join(SUITES)}.")
    if args.transcripts is not None and not args.transcripts.exists():
        raise InputError(f"{args.transcripts}: file or folder not found")
    default = ["retrieval", "screening", "conversations", "redteam", "listening"]
    suites = args.suites or ([] if args.transcripts else default)
    llms = [n.strip().lower() for n in (args.llm or ["scripted"]) if n.strip()]
    opts = EvalOptions(suites=suites, llms=list(dict.fromkeys(llms)), baseline=args.baseline,
                       limit=args.limit, mode=args.mode, transcripts=args.transcripts,
                       cases=args.case or [], style=args.style,
                       command=" ".join(["coach", *map(shlex.quote, getattr(args, "argv", sys.argv[1:]))]))
    results = run_eval(opts, progress=stderr_progress)
    out = args.out or coach_home() / "evals" / time.strftime("run-%Y%m%d-%H%M%S")
    paths = write_reports(results, out)
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
    if args.json:
        print(json.dumps(_brief(results), indent=2, default=str))
    else:
        _print_summary(results, paths)
    return 0
