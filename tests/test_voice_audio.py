"""Audio decoding, checks, resampling and speech-text cleaning: no speech models needed."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from coach.voice import AudioError
from coach.voice.audio import (
    SAMPLE_RATE,
    decode_bytes,
    from_array,
    load_audio,
    resample,
    to_wav_bytes,
)
from coach.voice.tts import clean_for_speech, split_sentences


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav(rate: int, channels: int, bits: int, samples: np.ndarray, tag: int = 1) -> bytes:
    """A WAV file written by hand, independent of the code under test."""
    if tag == 3:
        payload = samples.astype("<f4").tobytes()
    elif bits == 16:
        payload = (samples * 32767).astype("<i2").tobytes()
    elif bits == 24:
        ints = (samples * (2**23 - 1)).astype("<i4").tobytes()
        payload = b"".join(ints[i : i + 3] for i in range(0, len(ints), 4))
    elif bits == 8:
        payload = (samples * 127 + 128).astype(np.uint8).tobytes()
    else:
        raise ValueError(bits)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8,
                      channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk a parser must skip
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("bits,tag", [(8, 1), (16, 1), (24, 1), (32, 3)])
def test_wav_encodings_decode_to_the_same_signal(bits, tag):
    signal = tone(0.5, 22050)
    audio = decode_bytes(wav(22050, 1, bits, signal, tag))
    assert audio.sample_rate == 22050
    assert len(audio.samples) == len(signal)
    assert np.max(np.abs(audio.samples - signal)) < 0.02


def test_stereo_wav_is_mixed_to_mono():
    left, right = tone(0.2, 16000, 300), tone(0.2, 16000, 300)
    frames = np.stack([left, right], axis=1).reshape(-1)
    audio = decode_bytes(wav(16000, 2, 16, frames))
    assert audio.samples.ndim == 1 and len(audio.samples) == len(left)
    assert np.allclose(audio.samples, left, atol=1e-3)


def test_streaming_wav_with_unset_sizes_still_reads():
    good = wav(16000, 1, 16, tone(0.3, 16000))
    # espeak-ng --stdout writes 0x7fffffff for sizes it cannot know in advance.
    streamed = good[:4] + b"\xff\xff\xff\x7f" + good[8:]
    data_at = streamed.index(b"data")
    streamed = streamed[: data_at + 4] + b"\xff\xff\xff\x7f" + streamed[data_at + 8 :]
    assert len(decode_bytes(streamed).samples) == int(0.3 * 16000)


def test_resample_keeps_length_pitch_and_level():
    signal = tone(1.0, 48000, freq=440.0)
    out = resample(signal, 48000, SAMPLE_RATE)
    assert len(out) == SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(out) - 440.0) < 2.0
    assert abs(np.sqrt(np.mean(out**2)) - np.sqrt(np.mean(signal**2))) < 0.01


def test_resample_removes_tones_above_the_new_nyquist():
    out = resample(tone(1.0, 44100, freq=12000.0), 44100, SAMPLE_RATE)
    assert np.sqrt(np.mean(out**2)) < 1e-3  # 12 kHz cannot exist at 16 kHz; no aliasing


def test_gradio_tuple_stereo_int16_48k_becomes_16k_mono():
    signal = (tone(1.0, 48000) * 32767).astype(np.int16)
    audio = load_audio((48000, np.stack([signal, signal], axis=1)))
    assert audio.sample_rate == SAMPLE_RATE and audio.samples.ndim == 1
    assert abs(audio.duration_s - 1.0) < 0.01


def test_channels_first_array_is_understood():
    signal = tone(0.5, 16000)
    audio = from_array(16000, np.stack([signal, signal]))  # shape (2, n)
    assert len(audio.samples) == len(signal)


def test_written_wav_reads_back():
    samples = (tone(0.25, 22050) * 32767).astype(np.int16)
    audio = decode_bytes(to_wav_bytes(22050, samples))
    assert audio.sample_rate == 22050
    assert np.allclose(audio.samples * 32768, samples, atol=2)


def test_flac_and_ogg_decode_without_ffmpeg(tmp_path):
    av = pytest.importorskip("av")
    signal = (tone(1.0, 16000) * 32767).astype(np.int16)
    for ext, codec in (("flac", "flac"), ("ogg", "libopus")):
        path = tmp_path / f"clip.{ext}"
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=48000 if codec == "libopus" else 16000)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(signal[None, :], format="s16", layout="mono")
            frame.sample_rate = 16000
            if codec == "libopus":
                resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
                frames = resampler.resample(frame)
            else:
                frames = [frame]
            for fr in frames:
                for packet in stream.encode(fr):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        audio = load_audio(path)
        assert abs(audio.duration_s - 1.0) < 0.1, ext


# --- Bad input: one readable sentence, never a traceback ------------------------------------


def message(audio, **kw) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(audio, **kw)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text and len(text) < 200
    return text


def test_random_bytes_are_reported_as_unreadable():
    rng = np.random.default_rng(1)
    assert "couldn't read" in message(rng.bytes(5000)).lower()


def test_text_file_named_wav_is_reported_as_text(tmp_path):
    path = tmp_path / "note.wav"
    path.write_text("Dear diary, today I worried again.\n" * 20)
    assert "text, not audio" in message(path)


def test_truncated_wav_header_is_reported_as_damaged():
    good = wav(16000, 1, 16, tone(0.5, 16000))
    assert "damaged" in message(good[:30])


def test_empty_file_and_empty_wav_are_reported_as_empty(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty" in message(tmp_path / "empty.wav")
    assert "empty" in message(wav(16000, 1, 16, np.zeros(0, np.float32)))
    assert "empty" in message((16000, np.zeros(0, np.int16)))


def test_silence_is_reported_as_silent():
    assert "silent" in message(wav(16000, 1, 16, np.zeros(3 * 16000, np.float32)))
    faint = np.random.default_rng(0).normal(0, 1e-4, 3 * 16000).astype(np.float32)
    assert "silent" in message((16000, faint))


def test_too_long_names_the_limit(monkeypatch):
    clip = wav(16000, 1, 16, tone(3.0, 16000))
    assert "limit is 2 seconds" in message(clip, max_seconds=2)
    monkeypatch.setenv("COACH_VOICE_MAX_SECONDS", "1.5")
    assert "limit is 1.5 seconds" in message(clip)


def test_default_limit_is_120_seconds():
    long_clip = (16000, np.full(121 * 16000, 1000, np.int16))
    assert "limit is 120 seconds" in message(long_clip)


def test_wrong_formats_say_what_is_wrong(tmp_path):
    assert "encoding" in message(wav(16000, 1, 16, tone(0.2, 16000), tag=6))  # A-law
    assert "sample rate" in message((12.5e6, np.ones(100, np.int16)))
    assert "must be numbers" in message((16000, np.array(["a", "b"])))
    assert "file path" in message(12345)
    assert "find" in message(tmp_path / "missing.wav")
    assert "folder" in message(tmp_path)
    assert "No recording" in message(None)


# --- Text prepared for speech ---------------------------------------------------------------


def test_markdown_is_stripped_before_speaking():
    text = clean_for_speech(
        "## Next step\n**Pause** before you _reply_. See [this note](https://example.org/x).\n"
        "- Breathe slowly\n* Name the feeling.\n1. Ask `one` question?\n> quoted line\n"
        "```\ncode()\n```"
    )
    for mark in ("#", "*", "_", "[", "](", "http", "`", ">", "code()"):
        assert mark not in text, mark
    assert split_sentences(text) == [
        "Next step.", "Pause before you reply.", "See this note.", "Breathe slowly.",
        "Name the feeling.", "Ask one question?", "quoted line",
    ]


def test_long_sentences_are_cut_at_a_comma():
    text = ", ".join(["this is one part of a very long sentence"] * 12) + "."
    parts = split_sentences(text)
    assert len(parts) > 1 and all(len(p) <= 240 for p in parts)
    assert " ".join(parts) == text


def test_float_samples_on_the_int16_scale_are_rescaled_not_clipped():
    signal = tone(0.5, 16000)
    audio = from_array(16000, signal * 32767.0)
    assert np.max(np.abs(audio.samples - signal)) < 1e-3
