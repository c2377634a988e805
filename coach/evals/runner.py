"""Run eval suites for one or more LLM backends, the full coach beside the plain chatbot."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

SUITES = ["retrieval", "screening", "conversations", "redteam"]
EXTRA_SUITES = ["calibration", "listening", "rubric", "feedback"]
Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """Progress on stderr: one updating line on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K" + message[:120])
        sys.stderr.flush()
    else:
        print(message, file=sys.stderr, flush=True)


@dataclass
class EvalOptions:
    suites: list[str] = field(default_factory=lambda: list(SUITES))
    llms: list[str] = field(default_factory=lambda: ["scripted"])
    baseline: str = "plain"            # "plain" or "none"
    limit: int | None = None           # at most this many cases per suite
    mode: str = "hybrid"               # retrieval ranking
    transcripts: Path | None = None
    backends: dict[str, Any] = field(default_factory=dict)  # name -> ready backend (tests)
    judge: Any = "env"                 # "env": from COACH_JUDGE_*; None: off; or a Judge
    cases: list[str] = field(default_factory=list)  # only scenarios with these names
    style: str = "report"              # house style in transcripts: "report" or "strict"
    rubric_judge: Any = "env"          # the rubric's optional LLM judge, like `judge`
    command: str = ""                  # the command line, for the report


def _limit(items: list, n: int | None) -> list:
    return items[:n] if n else items


class _Context:
    """Shared, built once per run: the index, the grounder, the checks and a throwaway store."""

    def __init__(self) -> None:
        from ..retrieval import get_index
        from .checks import default_checks
        from .grounding import Grounder

        self.index = get_index()
        self.grounder = Grounder(self.index.card)
        self._checks: list | None = None
        self._default_checks = default_checks
        # Eval sessions must never mix with the person's own saved sessions.
        self._tmp = tempfile.TemporaryDirectory(prefix="coach-eval-")
        self.db_url = f"sqlite:///{Path(self._tmp.name) / 'eval.db'}"

    @property
    def checks(self) -> list:
        """The per-turn checks (built on first use: embedding every card takes a while)."""
        if self._checks is None:
            ids = [c.id for c in self.index.all_cards()]
            self._checks = self._default_checks(
                self.grounder, lambda i: self.index.card(i) is not None, ids)
        return self._checks

    def close(self) -> None:
        self._tmp.cleanup()


def _systems(ctx: _Context, opts: EvalOptions) -> list[tuple[str, Any, Any]]:
    """(llm name, coach Bot, plain Bot or None) for each backend asked for."""
    from ..engine import Coach
    from ..llm import get_backend
    from ..store import SessionStore
    from .bots import Bot, PlainChatbot

    out = []
    store = SessionStore(ctx.db_url)
    for name in opts.llms:
        if name == "scripted":
            coach = Coach(llm="scripted", store=store, index=ctx.index)
            out.append((name, Bot("coach", name, coach), None))
            continue
        backend = opts.backends.get(name) or get_backend(name)
        coach = Coach(llm=backend, store=store, index=ctx.index)
        plain = Bot("plain", name, PlainChatbot(backend)) if opts.baseline == "plain" else None
        out.append((name, Bot("coach", name, coach), plain))
    return out


def run_eval(opts: EvalOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Every suite asked for; results hold every case, every check and every score."""
    from .judge import Judge

    unknown = [s for s in opts.suites if s not in SUITES + EXTRA_SUITES]
    if unknown:
        raise InputError(f"Unknown suite {unknown[0]!r}; choose from: "
                         f"{', '.join(SUITES + EXTRA_SUITES)}.")
    if opts.baseline not in ("plain", "none"):
        raise InputError("--baseline must be 'plain' or 'none'.")
    if opts.limit is not None and opts.limit < 1:
        raise InputError("--limit must be a positive number of cases.")
    from .judge import RubricJudge
    from .transcripts import STYLE_MODES

    if opts.style not in STYLE_MODES:
        raise InputError("--style must be 'report' or 'strict'.")
    judge = Judge.from_env() if opts.judge == "env" else opts.judge
    wants_rubric_judge = opts.transcripts is not None or "rubric" in opts.suites
    rubric_judge = (RubricJudge.from_env() if opts.rubric_judge == "env" and wants_rubric_judge
                    else None if opts.rubric_judge == "env" else opts.rubric_judge)
    say = progress or (lambda _m: None)
    started = time.time()
    results: dict[str, Any] = {"meta": {
        "suites": opts.suites, "llms": opts.llms, "baseline": opts.baseline,
        "limit": opts.limit, "judge": getattr(judge, "model", None) or None,
        "rubric_judge": getattr(rubric_judge, "model", None) or None,
        "style": opts.style, "command": opts.command, "versions": versions(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S")}, "suites": {}}
    if opts.transcripts is not None:
        from .cases import load_transcripts
        from .transcripts import score_transcripts

        got = score_transcripts(_limit(load_transcripts(opts.transcripts), opts.limit), judge, say,
                                style=opts.style, rubric_judge=rubric_judge)
        results["transcripts"] = {"file": str(opts.transcripts), "summary": got["summary"]}
        results["conversations"] = got["conversations"]
    if "feedback" in opts.suites:
        say("feedback: reading what people said about replies on this machine")
        results["suites"]["feedback"] = feedback_report()
    if "rubric" in opts.suites:
        from .rubric import run_validation

        say("rubric: scoring the labelled conversations")
        results["suites"]["rubric"] = run_validation(opts.limit, rubric_judge, say)
    if "screening" in opts.suites:
        from .screening_eval import run_screening

        say("screening: screening the labelled messages")
        results["suites"]["screening"] = run_screening(opts.limit)
    if "listening" in opts.suites:
        from .listening import run_listening

        from .listening import blind_sets

        listening: dict[str, Any] = {}
        for llm in opts.llms:
            got = opts.backends.get(llm, llm)
            for name, path in blind_sets():
                label = llm if name == "listening_blind" else f"{llm}, {name}"
                say(f"listening: replaying {name} on {llm}")
                listening[label] = run_listening(got, opts.limit, path)
                if opts.baseline == "plain" and llm != "scripted":
                    say(f"listening: replaying {name} on the plain chatbot ({llm})")
                    listening[f"plain/{label}"] = run_listening(got, opts.limit, path,
                                                                plain=True)
        results["suites"]["listening"] = listening
    needs_index = {"retrieval", "conversations", "redteam", "calibration"} & set(opts.suites)
    if needs_index:
        say("loading the card index and embedding the cards")
        ctx = _Context()
        try:
            _index_suites(ctx, opts, results, judge, say)
        finally:
            ctx.close()
    if rubric_judge is not None:
        results["meta"]["rubric_judge_calls"] = rubric_judge.calls
        results["meta"]["rubric_judge_failures"] = rubric_judge.failures
        rubric_judge.close()
    if judge is not None:
        results["meta"]["judge_calls"] = judge.calls
        results["meta"]["judge_failures"] = judge.failures
        judge.close()
    results["meta"]["seconds"] = round(time.time() - started, 1)
    results["meta"]["grounding_threshold"] = _threshold()
    return results


def feedback_report() -> dict[str, Any]:
    """Likes, dislikes and reasons people gave in the web app, by backend and stage (counts
    only: no message text leaves the store)."""
    from ..store import SessionStore

    store = SessionStore()
    try:
        rows = store.feedback_summary()
    finally:
        store.close()
    by_value: dict[str, int] = {}
    by_backend: dict[str, dict[str, int]] = {}
    by_stage: dict[str, dict[str, int]] = {}
    for r in rows:
        by_value[r["value"]] = by_value.get(r["value"], 0) + 1
        for table, key in ((by_backend, r["backend"]), (by_stage, r["stage"])):
            slot = table.setdefault(key or "unknown", {})
            slot[r["value"]] = slot.get(r["value"], 0) + 1
    rated = len(rows)
    liked = by_value.get("Like", 0)
    commented = sum(1 for r in rows if r.get("commented"))
    only_words = by_value.get("Comment", 0)  # a comment with no like or dislike
    return {"rated": rated, "liked": liked, "disliked": rated - liked - only_words,
            "commented": commented,
            "like_rate": liked / rated if rated else None, "by_value": by_value,
            "by_backend": by_backend, "by_stage": by_stage}


def versions() -> dict[str, str]:
    """The versions that decide the scores: the coach, Python and the libraries it reads with."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    out = {"trust-coach": __version__, "python": platform.python_version()}
    for name in ("chromadb", "langchain-core", "langchain-openai"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    try:
        from ..safety.classifier import default_model

        out["risk-classifier"] = default_model().version or "unversioned"
    except Exception:  # noqa: BLE001 - the report still says what it can
        pass
    return out


def _threshold() -> float:
    from .detectors import settings

    return float(settings()["grounding"]["threshold"])


def _index_suites(ctx: _Context, opts: EvalOptions, results: dict[str, Any], judge: Any,
                  say: Progress) -> None:
    from .cases import load_scenarios
    from .replay import run_suite

    if "retrieval" in opts.suites:
        from .retrieval import evaluate, load_cases

        say("retrieval: ranking the queries")
        results["suites"]["retrieval"] = evaluate(ctx.index, _limit(load_cases(), opts.limit),
                                                  mode=opts.mode)
    if "calibration" in opts.suites:
        from .grounding import calibrate, load_pairs

        say("calibration: scoring the labelled grounding pairs")
        results["suites"]["calibration"] = calibrate(ctx.grounder, load_pairs())
    scenario_suites = [s for s in ("conversations", "redteam") if s in opts.suites]
    if not scenario_suites:
        return
    systems = _systems(ctx, opts)
    try:
        for suite in scenario_suites:
            scenarios = load_scenarios(suite)
            if opts.cases:
                scenarios = [s for s in scenarios if s.name in opts.cases]
            scenarios = _limit(scenarios, opts.limit)
            entry: dict[str, Any] = {"cases": len(scenarios), "systems": {}}
            for name, coach, plain in systems:
                entry["systems"][coach.label] = run_suite(coach, scenarios, ctx.checks, judge,
                                                          say, suite)
                if plain is not None:
                    entry["systems"][plain.label] = run_suite(plain, scenarios, ctx.checks,
                                                              judge, say, suite)
                elif opts.baseline == "plain":
                    entry["systems"][f"plain/{name}"] = {
                        "system": f"plain/{name}", "na": "no language model behind 'scripted'"}
            results["suites"][suite] = entry
    finally:
        for _name, coach, _plain in systems:
            coach.system.close()
