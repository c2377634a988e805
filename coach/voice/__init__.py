"""Offline voice: speech to text (faster-whisper) and text to speech (Piper or espeak-ng).

Heavy libraries load on first use, so importing this package is cheap and works without
the `voice` extra; `available()` tells a UI which half can run.
"""

from __future__ import annotations

from .audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, SUPPORTED, AudioError
from .stt import Transcript, stt_available, transcribe
from .tts import synthesize, synthesize_stream, tts_available, wav_bytes, write_wav

__all__ = [
    "AudioError",
    "DEFAULT_MAX_SECONDS",
    "SAMPLE_RATE",
    "SUPPORTED",
    "Transcript",
    "available",
    "synthesize",
    "synthesize_stream",
    "transcribe",
    "wav_bytes",
    "write_wav",
]


def available() -> dict:
    """Which voice features work here: {"stt": bool, "tts": bool, "stt_detail": ..., ...}."""
    stt_ok, stt_detail = stt_available()
    tts_ok, tts_detail = tts_available()
    return {"stt": stt_ok, "tts": tts_ok, "stt_detail": stt_detail, "tts_detail": tts_detail}
