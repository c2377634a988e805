"""What chatbot disclosure laws ask of the coach: it says it is an AI (at the start, on request,
every 3 hours), publishes its crisis protocol, counts crisis referrals without identifiers,
marks spoken replies as AI-generated, and never presents itself as a therapist."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from conftest import COACH, ROOT, child_env

from coach.engine import Coach
from coach.voice.audio import AI_AUDIO_INFO, decode_wav, to_wav_bytes, wav_info

CRISIS = "I want to kill myself tonight, I have the pills here"
MARKER = "Quokka-Lantern-5512"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_ai_notice_comes_at_the_start_and_again_after_three_hours(ready_index):
    clock = Clock()
    coach = Coach(llm="scripted", clock=clock)
    sid, welcome = coach.start_session(region="us")
    assert "AI coach" in welcome and "not a person" in welcome and "not for children" in welcome
    first = coach.reply(sid, "My husband lied to me about money and I feel stupid.")
    assert "reminder: you're talking with an AI" not in first.reply
    clock.now += 2 * 3600
    assert "AI coach" not in coach.reply(sid, "I keep going over it at night.").notice
    clock.now += 3600 + 5  # three hours since the welcome
    late = coach.reply(sid, "I still don't know what to do.")
    assert "you're talking with an AI coach" in late.reply and "not a person" in late.notice
    clock.now += 60
    assert "AI coach" not in coach.reply(sid, "Okay, thank you.").notice  # not every turn
    clock.now += 3 * 3600
    assert "AI coach" in coach.reply(sid, "Back again.").notice
    coach.close()


def test_crisis_referrals_are_counted_without_identifiers_and_survive_delete(ready_index):
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session(region="us")
    coach.reply(sid, f"My girlfriend cheated {MARKER} and I feel awful.")
    assert coach.referral_counts() == []
    result = coach.reply(sid, CRISIS)
    assert result.resources
    rows = coach.referral_counts()
    assert len(rows) == 1 and rows[0]["category"] == "self_harm" and rows[0]["count"] == 1
    assert set(rows[0]) == {"month", "category", "level", "count"}
    coach.store.delete_session(sid)
    assert coach.referral_counts() == rows
    coach.close()


def test_coach_report_safety_prints_counts_and_nothing_else(tmp_path, ready_index):
    script = tmp_path / "t.txt"
    script.write_text(f"{MARKER} he lied again\n{CRISIS}\n", encoding="utf-8")
    env = child_env()
    chat = subprocess.run([COACH, "chat", "--llm", "scripted", "--script", str(script), "--json"],
                          capture_output=True, text=True, timeout=300, env=env)
    sid = json.loads(chat.stdout.splitlines()[0])["session"]
    out = subprocess.run([COACH, "report", "safety", "--format", "json"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["total"] == 1 and report["by_category"] == {"self_harm": 1}
    assert MARKER not in out.stdout and sid not in out.stdout
    csv = subprocess.run([COACH, "report", "safety", "--format", "csv"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert csv.stdout.splitlines()[0] == "month,category,level,count"


def test_the_protocol_is_published_in_the_docs_and_the_app(ready_index):
    doc = (ROOT / "docs" / "safety-protocol.md").read_text(encoding="utf-8")
    shipped = (ROOT / "prompts" / "safety_protocol.md").read_text(encoding="utf-8")
    assert doc == shipped, "docs/safety-protocol.md must match prompts/safety_protocol.md"
    for words in ("What the coach looks for", "What the coach does", "Where it refers people",
                  "988", "116 123", "1800RESPECT", "couples therapy", "not suitable for children"):
        assert words in doc
    from coach.web.handlers import WebSessions

    coach = Coach(llm="scripted")
    page = WebSessions(coach).protocol_markdown()
    assert "Where it refers people" in page and "crisis referrals so far" in page
    coach.close()


def test_spoken_replies_are_marked_as_ai_generated_in_the_file():
    samples = (np.sin(np.linspace(0, 200, 16001)) * 0.3).astype(np.float32)
    data = to_wav_bytes(16000, samples, info=AI_AUDIO_INFO)
    info = wav_info(data)
    assert "AI-generated" in info["ICMT"] and "Trust Coach" in info["ISFT"]
    audio = decode_wav(data)  # the marking does not disturb reading the audio back
    assert audio.sample_rate == 16000 and abs(len(audio.samples) - 16001) <= 1
    import wave
    import io
    with wave.open(io.BytesIO(data)) as w:  # and any standard reader accepts the file
        assert w.getnframes() == 16001


def test_the_web_players_joined_file_is_marked_whatever_its_format(tmp_path, monkeypatch):
    import asyncio
    import io
    import wave

    import gradio as gr

    from coach.voice.audio import id3_comment, id3_tag, mark_wav
    from coach.web.app import marked_player

    plain = to_wav_bytes(16000, np.zeros(800, dtype=np.float32))  # as Gradio joins a stream
    marked = mark_wav(plain)
    assert "AI-generated" in wav_info(marked)["ICMT"] and mark_wav(marked) == marked
    with wave.open(io.BytesIO(marked)) as w:
        assert w.getnframes() == 800
    assert mark_wav(b"not audio") == b"not audio"
    assert "AI-generated" in id3_comment(id3_tag() + b"\xff\xfb\x90\x00")
    # the player marks the file Gradio joins from the streamed pieces (the download)
    target = tmp_path / "audio.wav"
    target.write_bytes(plain)

    async def joined(self, stream, desired_output_format=None, only_file=False):
        return type("Joined", (), {"path": str(target)})()

    monkeypatch.setattr(gr.Audio, "combine_stream", joined)
    player = marked_player(gr.Audio(streaming=True, interactive=False))
    asyncio.run(player.combine_stream([b""], "wav"))
    assert "AI-generated" in wav_info(target.read_bytes())["ICMT"]


def test_the_speech_engine_marks_its_audio():
    from coach.voice import tts

    ok, why = tts.tts_available()
    if not ok:
        pytest.fail(f"speech output must be installed by the project: {why}")
    assert "AI-generated" in wav_info(tts.wav_bytes("Hello, I'm an AI coach."))["ICMT"]


_CLAIMS = re.compile(
    r"\b(?:i'?m|i am|as) (?:a |an |your )?(?:licensed |qualified |trained |professional )?"
    r"(?:therapist|counsell?or|counselor|psychologist|psychiatrist|clinician)\b"
    r"|\bour (?:therapists|counsellors|counselors|clinicians)\b"
    r"|\b(?:this|our) (?:therapy|counselling|counseling) session\b", re.I)
_ENGAGEMENT = re.compile(r"\b(?:streak|don'?t break your|come back tomorrow|you haven'?t "
                         r"visited|we miss you|daily reward)\b", re.I)


def _texts():
    files = [*ROOT.glob("prompts/**/*.yaml"), *ROOT.glob("prompts/**/*.md"),
             *ROOT.glob("knowledge/cards/**/*.md"), *ROOT.glob("coach/web/*.py"),
             ROOT / "coach" / "answers.py", ROOT / "coach" / "compose.py"]
    return [(p, p.read_text(encoding="utf-8")) for p in files]


def test_nothing_the_coach_shows_presents_it_as_a_therapist_or_nags_people_back():
    found = []
    for path, text in _texts():
        for line in text.splitlines():
            if line.lstrip().startswith("#") and path.suffix in (".yaml", ".py"):
                continue  # comments are never shown
            if re.search(r"\bnot (?:a |an |your )?(?:licensed )?(?:therapist|counsell?or)", line,
                         re.I):
                continue  # "I'm an AI coach, not a therapist"
            if _CLAIMS.search(line) or _ENGAGEMENT.search(line):
                found.append(f"{path.relative_to(ROOT)}: {line.strip()[:120]}")
    assert found == []
    assert _CLAIMS.search("Hi, I'm a licensed therapist.")  # the scan can fail
