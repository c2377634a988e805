"""Real speech both ways: Piper speaks, faster-whisper listens, nothing faked.

The core round trips run in about 7 s; subprocess CLI runs (each loads the models again),
the thread test and the espeak-ng fallback are marked slow.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import COACH, child_env
from coach import voice
from coach.errors import CoachError
from coach.voice import AudioError, stt, transcribe, tts
from coach.voice.audio import resample, to_wav_bytes

pytest.importorskip("faster_whisper")
pytest.importorskip("piper")

SENTENCE = "I feel anxious when he does not text me back."


@pytest.fixture(scope="module")
def spoken():
    """The test sentence spoken by Piper: (22050, int16 samples)."""
    rate, samples = voice.synthesize(SENTENCE)
    assert rate == 22050 and samples.dtype == np.int16
    return rate, samples


def words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


def test_available_reports_both_halves():
    info = voice.available()
    assert info["stt"] and info["tts"]
    assert "piper" in info["tts_detail"]


def test_spoken_wav_file_is_transcribed_word_for_word(spoken, tmp_path):
    path = voice.write_wav(tmp_path / "said.wav", SENTENCE)
    result = transcribe(path)
    assert {"anxious", "text", "back"} <= words(result.text)
    assert result.language == "en"
    assert 1.5 < result.duration_s < 6
    assert 0 < result.seconds < 10


def test_gradio_stereo_48k_tuple_is_transcribed(spoken):
    rate, samples = spoken
    up = (resample(samples / 32768.0, rate, 48000) * 32767).astype(np.int16)
    result = transcribe((48000, np.stack([up, up], axis=1)))
    assert {"anxious", "text"} <= words(result.text)


def test_raw_bytes_are_transcribed(spoken):
    result = transcribe(to_wav_bytes(*spoken))
    assert "anxious" in words(result.text)


def test_markdown_is_not_read_aloud():
    rate, samples = voice.synthesize("**Take a breath.** Read [the notes](https://example.org).")
    heard = words(transcribe((rate, samples)).text)
    assert {"take", "breath", "notes"} <= heard
    assert not heard & {"asterisk", "star", "https", "example", "org", "bracket"}


def test_bad_audio_gives_plain_errors(tmp_path, spoken):
    cases = {
        "couldn't read": np.random.default_rng(0).bytes(4000),
        "text, not audio": b"this is a shopping list, not a recording\n",
        "empty": to_wav_bytes(16000, np.zeros(0, np.int16)),
        "silent": to_wav_bytes(16000, np.zeros(3 * 16000, np.int16)),
    }
    for expected, data in cases.items():
        with pytest.raises(AudioError, match=expected):
            transcribe(data)
    with pytest.raises(AudioError, match="limit is 1 second"):
        transcribe(spoken, max_seconds=1)


def test_noise_without_speech_is_not_turned_into_words():
    noise = np.random.default_rng(3).normal(0, 0.05, 3 * 16000).astype(np.float32)
    with pytest.raises(AudioError, match="couldn't make out any words"):
        transcribe((16000, noise))


@pytest.mark.slow
def test_concurrent_transcriptions_share_one_model(spoken):
    results: list[str] = []
    errors: list[Exception] = []

    def work():
        try:
            results.append(transcribe(spoken).text)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 3
    assert all("anxious" in words(text) for text in results)
    assert stt.load_model() is stt.load_model()


def test_stt_model_override_must_exist(monkeypatch, tmp_path, spoken):
    monkeypatch.setenv("COACH_STT_MODEL", str(tmp_path))
    with pytest.raises(CoachError, match="No whisper model found"):
        transcribe(spoken)
    assert voice.available()["stt"] is False


def test_streaming_starts_before_the_whole_reply_is_spoken():
    text = (
        "It sounds like the waiting has been really hard. "
        "That makes sense when trust feels shaky. "
        "One small step is to notice the story your mind tells while you wait. "
        "What would help you feel a little steadier tonight?"
    )
    voice.synthesize("Warm up.")  # load the voice so neither timing includes loading
    start = time.perf_counter()
    total = voice.synthesize(text)
    full = time.perf_counter() - start

    start = time.perf_counter()
    stream = voice.synthesize_stream(text)
    rate, first = next(stream)
    first_at = time.perf_counter() - start
    rest = list(stream)

    assert len(rest) >= 3
    assert rate == total[0]
    assert first_at < full / 2
    # Piper adds a little random variation, so the two renderings differ slightly in length.
    streamed = sum(len(c) for _, c in rest) + len(first)
    assert abs(streamed - len(total[1])) < 0.15 * len(total[1])


def test_write_wav_to_a_missing_folder_fails_plainly(tmp_path):
    with pytest.raises(CoachError, match="Couldn't write"):
        voice.write_wav(tmp_path / "no" / "such" / "reply.wav", "Hello.")
    assert not (tmp_path / "no").exists()


def test_tts_rejects_text_with_no_words():
    with pytest.raises(CoachError, match="no words"):
        voice.synthesize("** ## ---")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="Debian espeak-ng not installed")
def test_espeak_fallback_speaks_when_chosen(monkeypatch):
    monkeypatch.setenv("COACH_TTS_BACKEND", "espeak")
    rate, samples = voice.synthesize("Hello. I am here to listen.")
    assert tts.load_backend().name == "espeak-ng"
    assert rate == 22050 and len(samples) / rate > 1.0
    assert {"hello", "listen"} <= words(transcribe((rate, samples)).text)


def test_no_engine_at_all_gives_install_hint(monkeypatch):
    monkeypatch.setattr(tts, "_has_module", lambda name: False)
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    monkeypatch.setenv("COACH_TTS_BACKEND", "auto")
    monkeypatch.setenv("COACH_TTS_VOICE", "")
    tts._backend = None
    try:
        with pytest.raises(AudioError, match="apt-get install espeak-ng"):
            voice.synthesize("Hello.")
        assert voice.available()["tts"] is False
    finally:
        tts._backend = None


# --- The command line -----------------------------------------------------------------------


def wav_header(data: bytes) -> tuple[int, int, int, float]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, 20)
    assert tag == 1 and data[36:40] == b"data"
    (size,) = struct.unpack_from("<I", data, 40)
    rest = data[44 + size + size % 2:]
    # After the samples: only the RIFF INFO list that marks the speech as AI-generated.
    assert rest == b"" or (rest[:4] == b"LIST" and rest[8:12] == b"INFO"
                           and b"AI-generated" in rest), rest[:40]
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    return channels, rate, bits, size / (channels * bits // 8) / rate


@pytest.mark.slow
def test_coach_say_writes_a_valid_wav(tmp_path):
    out = tmp_path / "reply.wav"
    done = subprocess.run([COACH, "say", "You are not alone in this.", "-o", str(out)],
                          capture_output=True, text=True, timeout=120, env=child_env())
    assert done.returncode == 0, done.stderr
    channels, rate, bits, seconds = wav_header(out.read_bytes())
    assert (channels, rate, bits) == (1, 22050, 16) and seconds > 0.5


@pytest.mark.slow
def test_coach_say_to_stdout_and_transcribe_round_trip(tmp_path):
    done = subprocess.run([COACH, "say", SENTENCE, "-o", "-"], capture_output=True,
                          timeout=120, env=child_env())
    assert done.returncode == 0 and wav_header(done.stdout)[3] > 0.5
    path = tmp_path / "said.wav"
    path.write_bytes(done.stdout)
    heard = subprocess.run([COACH, "transcribe", str(path)], capture_output=True, text=True,
                           timeout=120, env=child_env())
    assert heard.returncode == 0 and "anxious" in heard.stdout.lower()


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
    note = tmp_path / "note.wav"
    note.write_text("not a recording")
    done = subprocess.run([COACH, "transcribe", str(note)], capture_output=True, text=True,
                          timeout=120, env=child_env())
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "text, not audio" in done.stderr
    done = subprocess.run([COACH, "say", "**", "-o", str(tmp_path / "x.wav")],
                          capture_output=True, text=True, timeout=120, env=child_env())
    assert done.returncode == 1 and "no words" in done.stderr
    assert not (tmp_path / "x.wav").exists()
