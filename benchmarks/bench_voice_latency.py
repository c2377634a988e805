"""Voice to voice: from the end of a spoken message to the first byte of the spoken reply.

Run: .venv/bin/python benchmarks/bench_voice_latency.py [--llm scripted|local|openai] [--runs 3]

Runs the same path as the web page (WebSessions.transcribe -> turn, with LiveSpeech reading each
sentence as soon as it is shown) in-process, with
test clips spoken by Piper, in a temp COACH_HOME. Splits the time into speech to text, the
engine turn (screening, retrieval, storage), the language model's first visible text, and
the first synthesized sentence. Target with the scripted backend on 2 cores: <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

CLIPS = [
    "I found messages on my partner's phone and I feel hurt.",
    "My husband lied to me about money and I don't know if I can trust him again.",
    "I keep checking where she is and I hate feeling like this.",
    "Can we talk about how to rebuild trust after a betrayal?",
]


def run_once(web, wav: Path, state: dict) -> dict:
    """One voice turn as the page runs it (transcribe, then the turn with LiveSpeech reading
    each sentence as soon as it is shown); returns the stage timings in seconds."""
    t0 = time.perf_counter()
    text = web.transcribe(str(wav))
    t_stt = time.perf_counter()
    first_text = first_audio = t_engine = None
    live = web.live_speech()
    live.told = True  # the once-per-session spoken AI notice is not part of the latency
    last = None
    for view in web.turn(text, state.get("chat"), state, ""):
        last = view
        if view.said and first_text is None:
            first_text = time.perf_counter()
        if view.said_final:
            t_engine = time.perf_counter()
        if first_audio is None:
            for _rate, chunk in live.chunks(view):
                if chunk.size:
                    first_audio = time.perf_counter()
                    break
    state.update(last.state)
    state["chat"] = last.chat
    t_engine = t_engine or time.perf_counter()
    turns = web.coach.history(state["session"])
    backend = turns[-1].backend if turns else "?"
    return {
        "stt": t_stt - t0,
        "engine": t_engine - t_stt,
        "llm_first": (first_text - t_stt) if first_text else float("nan"),
        "tts_first": (first_audio - first_text) if first_audio and first_text else float("nan"),
        "total": (first_audio or t_engine) - t0,
        "backend": backend,
        "heard": text,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="scripted")
    parser.add_argument("--runs", type=int, default=3, help="rounds over the clips")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="coach-voice-latency-")
    os.environ["COACH_HOME"] = tmp.name
    from coach import voice
    from coach.engine import Coach
    from coach.errors import CoachError
    from coach.web.handlers import WebSessions

    have = voice.available()
    if not (have["stt"] and have["tts"]):
        print(f"voice is not available here: {have}")
        return 1
    clips = []
    for i, text in enumerate(CLIPS):
        clips.append(voice.write_wav(Path(tmp.name) / f"clip{i}.wav", text))
    t = time.perf_counter()
    try:
        coach = Coach(llm=args.llm, region="us")
    except CoachError as exc:
        print(f"--llm {args.llm} is not usable here: {exc}")
        return 1
    load_engine = time.perf_counter() - t
    web = WebSessions(coach)
    t = time.perf_counter()
    voice.transcribe(str(clips[0]))  # load the speech models once, as a running server has
    next(iter(voice.synthesize_stream("Hello.")))
    load_voice = time.perf_counter() - t
    run_once(web, clips[0], {})  # warm caches, as any running server has
    print(f"backend {coach.backend_name}: engine load {load_engine:.1f}s, voice models load "
          f"{load_voice:.1f}s (once per server); load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    rows = []
    for _ in range(args.runs):
        state: dict = {}
        for wav in clips:
            rows.append(run_once(web, wav, state))
    coach.close()
    keys = ["stt", "engine", "llm_first", "tts_first", "total"]
    print(f"{'stage':<28} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    names = {"stt": "speech to text", "engine": "whole reply shown",
             "llm_first": "first visible text", "tts_first": "then first sentence spoken",
             "total": "voice to voice"}
    for k in keys:
        vals = sorted(r[k] for r in rows if r[k] == r[k])
        if not vals:
            print(f"{names[k]:<28} {'n/a':>7}")
            continue
        p95 = vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))]
        print(f"{names[k]:<28} {statistics.median(vals):>7.3f} {p95:>7.3f} {vals[-1]:>7.3f}")
    backends = {b: sum(r["backend"] == b for r in rows) for b in {r["backend"] for r in rows}}
    within = sum(r["total"] <= 1.5 for r in rows)
    print(f"\n{len(rows)} turns, replies by "
          f"{', '.join(f'{b} {n}' for b, n in sorted(backends.items()))}; "
          f"{within}/{len(rows)} within 1.5 s")
    print(f"example transcript: {rows[0]['heard']!r}; "
          f"load average {os.getloadavg()[0]:.1f}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
