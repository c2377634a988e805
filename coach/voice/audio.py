"""Turn whatever audio a user hands us into 16 kHz mono float32, or say plainly why not.

Supported input: a path or raw bytes of a WAV file (PCM 8/16/24/32-bit or float, read with
our own parser, no extra packages), FLAC/OGG/MP3/M4A/WebM when PyAV is installed (it comes
with the `voice` extra via faster-whisper and bundles its own decoders, so no system ffmpeg),
or a `(sample_rate, numpy array)` tuple as Gradio's `gr.Audio(type="numpy")` gives.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CoachError

SAMPLE_RATE = 16_000
DEFAULT_MAX_SECONDS = 120.0
# A larger file is refused before decoding so one upload cannot exhaust memory.
MAX_BYTES = 64 * 1024 * 1024
# Loudest 30 ms frame quieter than about -55 dBFS: nothing a microphone picked up as speech.
SILENCE_RMS = 10 ** (-55 / 20)

SUPPORTED = "WAV, FLAC, OGG, MP3, M4A or WebM"

_WAVE_PCM = 0x0001
_WAVE_FLOAT = 0x0003
_WAVE_EXTENSIBLE = 0xFFFE


class AudioError(CoachError):
    """Audio we cannot use: unreadable, not audio, empty, silent, too long or a wrong format."""


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 samples in [-1, 1], mono, at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0


def max_seconds_from_env() -> float:
    """The recording length limit: COACH_VOICE_MAX_SECONDS, else 120 s."""
    from ..settings import settings

    return settings().voice_max_seconds


def load_audio(audio: Any, *, max_seconds: float | None = None) -> Audio:
    """Decode, check and convert any supported input to 16 kHz mono float32."""
    limit = max_seconds_from_env() if max_seconds is None else float(max_seconds)
    if audio is None:
        raise AudioError("No recording was received. Please record or choose an audio file.")
    if isinstance(audio, tuple):
        decoded = from_array(*_tuple_parts(audio))
    elif isinstance(audio, (bytes, bytearray, memoryview)):
        decoded = decode_bytes(bytes(audio), max_seconds=limit)
    elif isinstance(audio, (str, Path)):
        decoded = decode_bytes(_read_file(Path(audio)), max_seconds=limit)
    else:
        raise AudioError(
            f"I can't use audio given as {type(audio).__name__}. Please send a file path, "
            "file bytes, or (sample_rate, samples)."
        )
    check_length(decoded, limit)
    mono = Audio(resample(decoded.samples, decoded.sample_rate, SAMPLE_RATE), SAMPLE_RATE)
    check_not_silent(mono)
    return mono


def check_length(audio: Audio, max_seconds: float) -> None:
    """Refuse empty recordings and ones longer than the limit."""
    if audio.samples.size == 0:
        raise AudioError("That recording is empty: there is no sound in it.")
    if audio.duration_s > max_seconds:
        raise AudioError(
            f"That recording is {audio.duration_s:.0f} seconds long; the limit is "
            f"{_fmt_seconds(max_seconds)}. Please send a shorter one."
        )


def check_not_silent(audio: Audio) -> None:
    """Refuse recordings with no frame loud enough to hold speech."""
    if loudest_frame_rms(audio.samples, audio.sample_rate) < SILENCE_RMS:
        raise AudioError(
            "I couldn't hear anything in that recording; it seems to be silent. "
            "Please check the microphone and try again."
        )


def loudest_frame_rms(samples: np.ndarray, sample_rate: int) -> float:
    """RMS of the loudest 30 ms frame (a short loud word counts, a long quiet tail does not)."""
    if samples.size == 0:
        return 0.0
    frame = max(1, int(sample_rate * 0.03))
    usable = (samples.size // frame) * frame
    if usable == 0:
        return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    frames = samples[:usable].reshape(-1, frame).astype(np.float64)
    return float(np.sqrt(np.mean(frames * frames, axis=1)).max())


# --- Decoding -------------------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError(f"I couldn't find the audio file {path.name!r}.")
    except OSError:
        raise AudioError(f"I couldn't open the audio file {path.name!r}.")
    if path.is_dir():
        raise AudioError(f"{path.name!r} is a folder, not an audio file.")
    if size > MAX_BYTES:
        raise AudioError(
            f"That file is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB. "
            "Please send a shorter recording."
        )
    try:
        return path.read_bytes()
    except OSError:
        raise AudioError(f"I couldn't read the audio file {path.name!r}.")


def decode_bytes(data: bytes, *, max_seconds: float | None = None) -> Audio:
    """Decode file bytes (WAV natively, other containers through PyAV) to mono float32."""
    if not data:
        raise AudioError("That recording is empty: the file has no data in it.")
    if len(data) > MAX_BYTES:
        raise AudioError(
            f"That file is {len(data) / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB. "
            "Please send a shorter recording."
        )
    if data[:4] in (b"RIFF", b"RIFX", b"RF64") and data[8:12] == b"WAVE":
        return decode_wav(data)
    if _looks_like_text(data):
        raise AudioError(
            f"That file contains text, not audio. Please send a recording ({SUPPORTED})."
        )
    return _decode_with_av(data, max_seconds)


def decode_wav(data: bytes) -> Audio:
    """Parse a RIFF/WAVE file: PCM 8/16/24/32-bit integer or 32/64-bit float samples."""
    if data[:4] != b"RIFF":
        raise AudioError(
            "That WAV file uses a layout I can't read (big-endian or RF64). "
            "Please save it as a standard WAV."
        )
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise _corrupt()
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAVE_EXTENSIBLE and len(body) >= 26:
                # The real format code sits at the start of the sub-format GUID.
                (tag,) = struct.unpack_from("<H", body, 24)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            # Streaming writers (espeak-ng --stdout, some browsers) leave the size unset or
            # too large; taking what is there is what every player does.
            payload = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise _corrupt()
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1000 or rate > 384_000:
        raise _corrupt()
    samples = _pcm_to_float(payload, tag, bits)
    frames = samples.size // channels
    samples = samples[: frames * channels].reshape(frames, channels)
    return Audio(_to_mono(samples), int(rate))


def _pcm_to_float(payload: bytes, tag: int, bits: int) -> np.ndarray:
    width = bits // 8
    if width == 0 or bits % 8:
        raise _unsupported_wav(tag, bits)
    usable = len(payload) - len(payload) % width
    raw = payload[:usable]
    if tag == _WAVE_PCM:
        if bits == 8:
            return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        if bits == 16:
            return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        if bits == 24:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            value = np.where(value >= 1 << 23, value - (1 << 24), value)
            return value.astype(np.float32) / float(1 << 23)
        if bits == 32:
            return (np.frombuffer(raw, "<i4").astype(np.float64) / 2**31).astype(np.float32)
    if tag == _WAVE_FLOAT and bits in (32, 64):
        dtype = "<f4" if bits == 32 else "<f8"
        values = np.nan_to_num(np.frombuffer(raw, dtype).astype(np.float32))
        return np.clip(values, -1.0, 1.0)
    raise _unsupported_wav(tag, bits)


def _decode_with_av(data: bytes, max_seconds: float | None = None) -> Audio:
    try:
        import av  # bundled with faster-whisper; has its own FLAC/Vorbis/Opus/MP3 decoders
    except ImportError:
        raise AudioError(
            "I can only read WAV files here; other formats need the voice extra "
            "(pip install 'trust-coach[voice]')."
        )
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(
                    f"That file has no sound track, so it isn't audio I can use ({SUPPORTED})."
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
            parts: list[np.ndarray] = []
            total = 0
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler number frames itself
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    total += parts[-1].size
                if max_seconds is not None and total > (max_seconds + 1) * SAMPLE_RATE:
                    # No need to decode an hour of audio to know it is too long.
                    raise AudioError(
                        f"That recording is longer than the limit of "
                        f"{_fmt_seconds(max_seconds)}. Please send a shorter one."
                    )
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except Exception:  # PyAV raises many error types; to the user they all mean one thing
        raise AudioError(
            "I couldn't read that file as audio: it may be damaged or in a format I don't "
            f"know. Please send a recording as {SUPPORTED}."
        )
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return Audio(np.clip(samples, -1.0, 1.0), SAMPLE_RATE)


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the end is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return bool(text) and printable / len(text) > 0.95


def _corrupt() -> AudioError:
    return AudioError(
        "That WAV file seems damaged or incomplete, so I couldn't read it. "
        "Please record it again."
    )


def _unsupported_wav(tag: int, bits: int) -> AudioError:
    return AudioError(
        f"That WAV file uses an encoding I can't read (format {tag}, {bits}-bit). "
        "Please save it as 16-bit PCM WAV."
    )


# --- Arrays ---------------------------------------------------------------------------------


def _tuple_parts(value: tuple) -> tuple[Any, Any]:
    if len(value) != 2:
        raise AudioError("Audio given as a pair must be (sample_rate, samples).")
    first, second = value
    # Gradio gives (rate, array); accept the reverse order too rather than fail on it.
    if isinstance(first, np.ndarray) and not isinstance(second, np.ndarray):
        first, second = second, first
    return first, second


def from_array(sample_rate: Any, samples: Any) -> Audio:
    """Convert a (rate, int/float array) pair, mono or multi-channel, to mono float32."""
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise AudioError(f"The sample rate must be a whole number, not {sample_rate!r}.")
    if rate < 1000 or rate > 384_000:
        raise AudioError(f"A sample rate of {rate} Hz isn't usable; expected 8000 to 192000.")
    array = np.asarray(samples)
    if array.size == 0:
        raise AudioError("That recording is empty: there is no sound in it.")
    if array.ndim == 2:
        # Gradio uses (samples, channels); flip a (channels, samples) array.
        if array.shape[0] <= 8 < array.shape[1]:
            array = array.T
    elif array.ndim != 1:
        raise AudioError(f"Audio samples must be 1-D or 2-D, not {array.ndim}-D.")
    return Audio(_to_mono(_normalise(array)), rate)


def _normalise(array: np.ndarray) -> np.ndarray:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "i":
        return (array.astype(np.float64) / float(2 ** (8 * size - 1))).astype(np.float32)
    if kind == "u":
        half = float(2 ** (8 * size - 1))
        return ((array.astype(np.float64) - half) / half).astype(np.float32)
    if kind == "f":
        values = np.nan_to_num(array.astype(np.float32))
        if values.size and np.abs(values).max() > 2.0:
            # Float samples on the int16 scale (some recorders do this): rescale, don't clip.
            values = values / 32768.0
        return np.clip(values, -1.0, 1.0)
    raise AudioError(
        f"Audio samples must be numbers (int16 or float), not {array.dtype}."
    )


def _to_mono(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling by FFT (numpy only); exact for speech-length clips."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target or samples.size == 0:
        return samples
    n_out = max(1, int(round(samples.size * target / rate)))
    spectrum = np.fft.rfft(samples)
    kept = np.zeros(n_out // 2 + 1, dtype=spectrum.dtype)
    k = min(kept.size, spectrum.size)
    kept[:k] = spectrum[:k]
    out = np.fft.irfft(kept, n=n_out) * (n_out / samples.size)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# Spoken replies say what they are in the file itself (EU AI Act Art. 50: machine-readable
# marking of AI-generated audio): a RIFF INFO list with a comment and the software's name.
AI_AUDIO_INFO = {
    "ICMT": "AI-generated speech: a reply from Trust Coach, an AI coach (not a person, not a "
            "therapist).",
    "ISFT": "Trust Coach (AI-generated audio)",
}


def _info_chunk(info: dict[str, str]) -> bytes:
    body = b"INFO"
    for key, value in info.items():
        data = value.encode("utf-8") + b"\x00"
        if len(data) % 2:
            data += b"\x00"
        body += struct.pack("<4sI", key.encode("ascii"), len(data)) + data
    return struct.pack("<4sI", b"LIST", len(body)) + body


def id3_tag(info: dict[str, str] | None = None) -> bytes:
    """An ID3v2.3 tag saying the audio is AI-generated (a COMM comment and the encoding
    software, TSSE), to put in front of an MP3 file."""
    info = info or AI_AUDIO_INFO

    def frame(fid: bytes, body: bytes) -> bytes:
        return fid + struct.pack(">I", len(body)) + b"\x00\x00" + body

    comment = info.get("ICMT", "").encode("latin-1", "replace")
    software = info.get("ISFT", "").encode("latin-1", "replace")
    frames = (frame(b"COMM", b"\x00eng\x00" + comment)
              + frame(b"TSSE", b"\x00" + software))
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frames


def id3_comment(data: bytes) -> str:
    """The COMM text of an MP3 file's ID3v2 tag ('' when there is none)."""
    if not data.startswith(b"ID3") or len(data) < 10:
        return ""
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    pos, end = 10, 10 + size
    while pos + 10 <= end:
        fid = data[pos:pos + 4]
        length = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        body = data[pos + 10:pos + 10 + length]
        if fid == b"COMM" and len(body) >= 5:
            text = body[4:]
            return text.split(b"\x00", 1)[-1].decode("latin-1")
        if not fid.strip(b"\x00"):
            break
        pos += 10 + length
    return ""


def to_wav_bytes(sample_rate: int, samples: np.ndarray,
                 info: dict[str, str] | None = None) -> bytes:
    """Encode mono int16 (or float in [-1, 1]) samples as a 16-bit PCM WAV file, with an
    optional RIFF INFO list (`info`: four-letter keys such as ICMT, ISFT)."""
    array = np.asarray(samples)
    if array.dtype.kind == "f":
        array = np.clip(array, -1.0, 1.0) * 32767.0
    pcm = array.astype("<i2").tobytes()
    pad = b"\x00" if len(pcm) % 2 else b""
    extra = _info_chunk(info) if info else b""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm) + len(pad) + len(extra), b"WAVE", b"fmt ", 16, _WAVE_PCM, 1,
        int(sample_rate), int(sample_rate) * 2, 2, 16, b"data", len(pcm),
    )
    return header + pcm + pad + extra


def mark_wav(data: bytes, info: dict[str, str] | None = None) -> bytes:
    """A complete WAV file with a RIFF INFO list added (AI-generated speech by default); files
    that already have one, or are not WAV, come back as they are."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE" or wav_info(data):
        return data
    body = data[:8 + struct.unpack("<I", data[4:8])[0]]  # no trailing bytes past RIFF's size
    if len(body) % 2:
        body += b"\x00"
    extra = _info_chunk(info or AI_AUDIO_INFO)
    return b"RIFF" + struct.pack("<I", len(body) - 8 + len(extra)) + body[8:] + extra


def wav_info(data: bytes) -> dict[str, str]:
    """The RIFF INFO entries of a WAV file ({} when there are none)."""
    out: dict[str, str] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack("<4sI", data[pos:pos + 8])
        if cid == b"LIST" and data[pos + 8:pos + 12] == b"INFO":
            p, end = pos + 12, pos + 8 + size
            while p + 8 <= end:
                key, n = struct.unpack("<4sI", data[p:p + 8])
                out[key.decode("ascii", "replace")] = data[p + 8:p + 8 + n].rstrip(
                    b"\x00").decode("utf-8", "replace")
                p += 8 + n + (n % 2)
        pos += 8 + size + (size % 2)
    return out


def _fmt_seconds(value: float) -> str:
    return f"{value:g} seconds" if value != 1 else "1 second"
