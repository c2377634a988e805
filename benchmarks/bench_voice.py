"""Measure the offline voice: model load times, STT seconds per clip, TTS first chunk and RTF.

Run: .venv/bin/python benchmarks/bench_voice.py [--repeats N]
Clips are spoken by Piper (3-8 s each), so the benchmark needs nothing but the voice extra.
"""

from __future__ import annotations

import argparse
import statistics
import time

from coach.voice import stt, synthesize, synthesize_stream, transcribe, tts

CLIPS = [
    "I keep checking his phone when he is asleep, and I hate that I do it.",
    "I feel anxious when he does not text me back, even for an hour.",
    "She says she forgave me, but every time I come home late we end up arguing about it.",
    "We have been together for six years and lately I wonder whether I can still trust "
    "what he tells me about where he goes after work.",
]
REPLY = (
    "It sounds like the waiting has been really hard for you. That makes sense when trust "
    "feels shaky. One small step is to notice the story your mind tells while you wait. "
    "What would help you feel a little steadier tonight?"
)


def word_errors(said: str, heard: str) -> int:
    """Word-level edit distance, ignoring case and punctuation."""
    a = [w.strip(".,!?;:").lower() for w in said.split()]
    b = [w.strip(".,!?;:").lower() for w in heard.split()]
    row = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, wb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (wa != wb))
    return row[-1]


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    load_tts, backend = timed(tts.load_backend)
    rows.append((f"TTS voice load ({backend.name})", f"{load_tts:.2f} s"))
    load_stt, _ = timed(stt.load_model)
    rows.append(("STT model load (whisper tiny.en, int8, 2 threads)", f"{load_stt:.2f} s"))

    synthesize("Warm up.")
    firsts, rtfs = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        stream = synthesize_stream(REPLY)
        rate, chunk = next(stream)
        firsts.append(time.perf_counter() - start)
        samples = len(chunk) + sum(len(c) for _, c in stream)
        rtfs.append((time.perf_counter() - start) / (samples / rate))
    rows.append(("TTS time to first chunk (4-sentence reply)", f"{statistics.median(firsts):.3f} s"))
    rows.append(("TTS real-time factor (synthesis s / audio s)", f"{statistics.median(rtfs):.3f}"))

    spoken = [synthesize(text) for text in CLIPS]
    transcribe(spoken[0])  # first call pays one-off graph set-up
    for text, clip in zip(CLIPS, spoken):
        secs = [transcribe(clip).seconds for _ in range(args.repeats)]
        result = transcribe(clip)
        errors = word_errors(text, result.text)
        rows.append((
            f"STT {result.duration_s:.1f} s clip ({errors} of {len(text.split())} words wrong)",
            f"{statistics.median(secs):.2f} s",
        ))

    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  ------")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
