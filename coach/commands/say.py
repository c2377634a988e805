"""`coach say` (text to a WAV file) and `coach transcribe` (a recording to text)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import CoachError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `say` and `transcribe` commands."""
    say = subparsers.add_parser(
        "say",
        help="speak a text into a WAV file, offline",
        description="Speak a text into a WAV file with the offline voice (Markdown is stripped).",
    )
    say.add_argument("text", help='the text to speak, or "-" to read it from standard input')
    say.add_argument(
        "-o", "--output", required=True, metavar="FILE",
        help='where to write the WAV file; "-" writes it to standard output',
    )
    say.set_defaults(func=run)

    tr = subparsers.add_parser(
        "transcribe",
        help="turn a recording into text, offline",
        description="Print what is said in a recording (WAV; FLAC/OGG/MP3 with the voice extra).",
    )
    tr.add_argument("file", help='the recording, or "-" to read it from standard input')
    tr.add_argument(
        "--max-seconds", type=float, default=None, metavar="S",
        help="refuse recordings longer than this (default 120, or COACH_VOICE_MAX_SECONDS)",
    )
    tr.add_argument("--json", action="store_true", help="print text, language and timings as JSON")
    tr.set_defaults(func=run_transcribe)


def run(args: argparse.Namespace) -> int:
    """Write the spoken text as WAV to a file or to standard output."""
    from ..voice import wav_bytes, write_wav

    text = sys.stdin.read() if args.text == "-" else args.text
    if args.output == "-":
        data = wav_bytes(text)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.output)
    if target.is_dir():
        raise CoachError(f"{target} is a folder; please give a file name ending in .wav.")
    write_wav(target, text)
    print(f"Wrote {target} ({_seconds(target.read_bytes()):.1f} s of speech).", file=sys.stderr)
    return 0


def run_transcribe(args: argparse.Namespace) -> int:
    """Print the transcript of a recording."""
    from ..voice import transcribe

    source: bytes | Path = sys.stdin.buffer.read() if args.file == "-" else Path(args.file)
    result = transcribe(source, max_seconds=args.max_seconds)
    if args.json:
        print(json.dumps({
            "text": result.text, "language": result.language,
            "duration_s": result.duration_s, "seconds": result.seconds,
        }))
    else:
        print(result.text)
    return 0


def _seconds(wav: bytes) -> float:
    # Our own writer: 44-byte header, 16-bit mono; rate at byte 24.
    rate = int.from_bytes(wav[24:28], "little") or 1
    return (len(wav) - 44) / 2 / rate
