"""The web app in a real browser: `coach serve --llm scripted`, Playwright, Debian chromium."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import COACH, ROOT, child_env, free_port

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
IDEA_LEADS = ("One thought that may help", "Something worth keeping in mind",
              "An idea from our guidance")
TIMEOUT_MS = 30_000


def _wait_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"coach serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "api/v1/health", timeout=2) as r:
                if json.load(r).get("ok"):
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("coach serve did not come up")


@contextlib.contextmanager
def _serving(home: Path, llm: str, **env_extra: str):
    """`coach serve --llm LLM` on a free port with its own COACH_HOME, stopped afterwards."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    port = free_port()
    env = child_env(COACH_HOME=str(home), COACH_REGION="uk", **env_extra)
    for key in ("COACH_AUTH", "COACH_AUTH_FILE"):
        env.pop(key, None)
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen([COACH, "serve", "--llm", llm, "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_up(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web_home")
    with _serving(home, "scripted", COACH_QUICK_EXIT_URL="https://www.bbc.com/weather") as url:
        yield {"url": url, "home": home}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh browser profile (its own Gradio session) that records requests to other hosts;
    1280x1000 unless a test asks for another size (indirect parametrisation)."""
    width, height = getattr(request, "param", (1280, 1000))
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.outside = []
    pg.dialogs = []

    def on_request(req):
        url = req.url
        if not url.startswith((server["url"], "data:", "blob:")):
            pg.outside.append(url)
    pg.on("request", on_request)
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    # The quick-exit page is outside; answer it locally so the test never touches the network.
    ctx.route("https://www.bbc.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>Weather</title><p>Weather</p>"))
    pg.goto(server["url"])
    pg.wait_for_selector("#coach-input textarea")
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"web-{request.node.name}.png"), full_page=True)
    except Exception:
        pass
    ctx.close()


def send(pg, text: str) -> str:
    """Type a message, send it and return the coach's reply once it has arrived."""
    before = pg.locator("#coach-chat .message-row").count()
    pg.fill("#coach-input textarea", text)
    pg.click("#coach-send")
    return _last_reply(pg, before)


def _last_reply(pg, before: int) -> str:
    rows = pg.locator("#coach-chat .message-row")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        n = rows.count()
        # the reply row exists and the turn has finished (the status line is refreshed)
        last = rows.nth(n - 1).inner_text().strip() if n else ""
        if n >= before + 2 and last and "Thinking about what you wrote" not in last:
            pg.wait_for_timeout(300)
            if rows.count() == n:
                return rows.nth(n - 1).inner_text()
        pg.wait_for_timeout(200)
    raise AssertionError(f"no reply arrived; chat: {pg.inner_text('#coach-chat')[:500]}")


def test_a_reply_arrives_with_its_guidance_and_nothing_leaves_the_computer(page):
    assert "Your privacy" in page.inner_text("#coach-privacy")
    first = send(page, "I found messages on his phone and I feel sick")
    assert "?" in first
    reply = send(page, "My husband cheated on me with a coworker, it's been two months")
    chat = page.inner_text("#coach-chat")
    assert "I'm an AI coach" in chat and "not a therapist" in chat and "My husband cheated on me" in chat
    assert any(lead in reply for lead in IDEA_LEADS), reply
    # the guidance sits folded under the reply it belongs to; a tap opens it
    note = page.locator("#coach-chat").get_by_text("Guidance behind this reply").last
    note.wait_for()
    note.click()
    page.wait_for_timeout(300)
    last_row = page.locator("#coach-chat .message-row").last.inner_text()
    assert "**" not in last_row and ":" in last_row.split("Guidance behind this reply")[1]
    page.click("#coach-topics button, #coach-topics .label-wrap")
    topics = page.inner_text("#coach-stage")
    assert "Step" not in topics and "Now:" in topics
    assert "built-in guidance" in page.inner_text("#coach-status")
    assert page.outside == [], f"the page asked other hosts: {page.outside}"


def test_privacy_notice_is_shown_once_per_browser(page, server):
    page.click("#coach-privacy button")
    page.wait_for_selector("#coach-privacy", state="hidden")
    page.reload()
    page.wait_for_selector("#coach-input textarea")
    page.wait_for_timeout(1000)
    assert not page.locator("#coach-privacy").is_visible()


def test_crisis_message_shows_support_and_no_coaching_idea(page):
    reply = send(page, "I want to end my life tonight")
    assert "999" in reply and "Samaritans" in reply
    assert not any(lead in reply for lead in IDEA_LEADS)
    page.locator("#coach-help-text").wait_for(state="visible")  # the panel opened by itself
    panel = page.inner_text("#coach-help-text")
    assert "Please reach out now" in panel and "Samaritans" in panel and "116 123" in panel


def test_html_in_a_message_stays_inert(page):
    send(page, '<img src=x onerror="alert(1);window.__pwned=1"> my partner <b>never</b> listens')
    page.wait_for_timeout(1000)
    assert page.dialogs == []
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#coach-chat img[onerror]").count() == 0
    assert "never" in page.inner_text("#coach-chat")


def test_quick_exit_appears_after_abuse_and_leaves_without_a_way_back(page, server):
    assert not page.locator("#coach-quick-exit").is_visible()
    send(page, "My partner hits me and I am scared to go home")
    page.wait_for_selector("#coach-quick-exit", state="visible")
    page.screenshot(path=str(ARTIFACTS / "web-quick-exit-shown.png"), full_page=True)
    page.click("#coach-quick-exit")
    page.wait_for_url("https://www.bbc.com/weather**")
    assert "hits me" not in page.content()
    page.go_back()
    page.wait_for_timeout(500)
    assert not page.url.startswith(server["url"]), "Back must not return to the conversation"


def test_escape_twice_leaves_the_page(page):
    page.locator("body").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url("https://www.bbc.com/weather**")


def test_two_browsers_never_see_each_other(browser, server):
    pages = []
    for marker in ("zebra", "walrus"):
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(server["url"])
        pg.wait_for_selector("#coach-input textarea")
        send(pg, f"My partner keeps talking about the {marker} and I feel left out")
        pages.append((ctx, pg, marker))
    (_, a, ma), (_, b, mb) = pages
    assert ma in a.inner_text("#coach-chat") and mb not in a.inner_text("#coach-chat")
    assert mb in b.inner_text("#coach-chat") and ma not in b.inner_text("#coach-chat")
    for ctx, _, _ in pages:
        ctx.close()


def test_export_downloads_the_conversation_then_delete_removes_it(page, server):
    send(page, "My wife hid a credit card from me and I feel betrayed")
    page.locator("#coach-sessions button").first.click()
    page.click("#coach-export")
    link = page.locator("#coach-export-file a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    text = Path(path).read_text(encoding="utf-8")
    assert "My wife hid a credit card from me" in text and "## Conversation" in text
    page.click("#coach-delete")
    page.click("#coach-delete-yes")
    page.wait_for_function(
        "() => !document.querySelector('#coach-chat').innerText.includes('credit card')")
    out = subprocess.run([COACH, "sessions", "list", "--json"], capture_output=True, text=True,
                         env=child_env(COACH_HOME=str(server["home"])), timeout=60)
    assert "credit card" not in out.stdout


def attach_audio(pg, path) -> None:
    """Attach an audio file in the message box (its upload button), as a person would."""
    with pg.expect_file_chooser() as chooser:
        pg.click("#coach-input button[aria-label='Upload a file']")
    chooser.value.set_files(str(path))
    pg.locator("#coach-input").get_by_text(Path(path).name).or_(
        pg.locator("#coach-input .thumbnail-item, #coach-input .thumbnail")).first.wait_for()


def test_a_spoken_message_is_transcribed_and_answered(page, tmp_path):
    voice = pytest.importorskip("coach.voice")
    if not voice.available()["tts"] or not voice.available()["stt"]:
        pytest.skip("voice models are not installed")
    wav = voice.write_wav(tmp_path / "message.wav",
                          "I found messages on my partner's phone and I feel hurt.")
    page.locator("#coach-voice").get_by_text("Voice: hear the replies").click()
    page.check("#coach-voice-on input")
    before = page.locator("#coach-chat .message-row").count()
    attach_audio(page, wav)
    page.click("#coach-send")
    reply = _last_reply(page, before)
    chat = page.inner_text("#coach-chat").lower()
    assert "messages on my partner" in chat and "phone" in chat
    assert "?" in reply
    # the spoken reply streams into the player
    page.wait_for_function(
        "() => { const a = document.querySelector('#coach-speaker audio');"
        " return a && (a.src || a.currentSrc); }", timeout=TIMEOUT_MS)
    # once it has played, the player's file (its download) is marked as AI-generated
    link = page.locator("#coach-speaker a[download]").first
    link.wait_for(state="attached", timeout=TIMEOUT_MS)
    data = page.request.get(link.get_attribute("href")).body()
    from coach.voice.audio import id3_comment, wav_info

    marked = wav_info(data).get("ICMT", "") if data[:4] == b"RIFF" else id3_comment(data)
    assert "AI-generated speech" in marked


def test_unusable_audio_gets_a_plain_message(page, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt this is not audio at all")
    attach_audio(page, bad)
    page.click("#coach-send")
    toast = page.locator(".toast-body").first
    toast.wait_for()
    text = toast.inner_text()
    assert "Traceback" not in text and len(text) < 300
    assert page.locator("#coach-chat .message-row").count() == 0
    # the app keeps working
    assert "?" in send(page, "I keep checking his location and I hate it")


def test_checkin_is_saved_and_charted(page):
    page.locator("#coach-checkin-box").get_by_text("Check-in: how secure").click()
    page.click("#coach-checkin")
    page.wait_for_function(
        "() => document.body.innerText.includes('First check-in')", timeout=TIMEOUT_MS)
    assert "5/10" in page.inner_text("body")


def test_a_recorded_message_from_the_microphone_is_answered(browser, server, tmp_path):
    voice = pytest.importorskip("coach.voice")
    if not voice.available()["tts"] or not voice.available()["stt"]:
        pytest.skip("voice models are not installed")
    wav = voice.write_wav(tmp_path / "spoken.wav",
                          "My wife hid a credit card from me and I feel betrayed.")
    # Chromium's fake microphone plays this file (in a loop) as what the person says.
    args = ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-audio-capture={wav}"]
    b = browser.browser_type.launch(executable_path=CHROMIUM, args=args, headless=True)
    try:
        ctx = b.new_context(permissions=["microphone"])
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(server["url"])
        pg.wait_for_selector("#coach-input textarea")
        # the microphone is in the message box: record, stop, attach, send
        pg.click("#coach-input button[aria-label='Record audio']")
        pg.click("#coach-input button.record-button")
        pg.wait_for_timeout(4500)
        pg.click("#coach-input button.stop-button")
        pg.click("#coach-input button[aria-label='Attach audio']")
        pg.click("#coach-send")
        reply = _last_reply(pg, 0)
        pg.wait_for_timeout(1500)
        rows = pg.locator("#coach-chat .message-row").count()
        chat = pg.inner_text("#coach-chat").lower()
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "web-microphone.png"), full_page=True)
    finally:
        b.close()
    assert "credit card" in chat
    assert reply.strip()
    assert rows == 3, "one recording must make one message (welcome, message, reply)"


@pytest.mark.parametrize("size", [(1366, 900), (390, 844)], ids=["desktop", "phone"])
def test_enter_sends_and_shift_enter_adds_a_line(browser, server, size):
    """Typed as a person types: Shift+Enter for a second line, Enter to send."""
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(server["url"])
        box = pg.locator("#coach-input textarea")
        box.wait_for()
        before = pg.locator("#coach-chat .message-row").count()
        box.click()
        pg.keyboard.type("My girlfriend lied about where she was.")
        pg.keyboard.press("Shift+Enter")
        pg.keyboard.type("I don't know what to believe now.")
        assert box.input_value() == ("My girlfriend lied about where she was.\n"
                                     "I don't know what to believe now.")
        assert pg.locator("#coach-chat .message-row").count() == before  # nothing sent yet
        pg.keyboard.press("Enter")
        reply = _last_reply(pg, before)
        assert reply and box.input_value() == ""
        chat = pg.locator("#coach-chat").inner_text()
        assert "lied about where she was" in chat and "what to believe now" in chat
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"web-enter-{size[0]}x{size[1]}.png"), full_page=True)
    finally:
        ctx.close()


def test_a_reply_can_be_liked_or_disliked_and_the_feedback_is_kept(page, server):
    send(page, "My boyfriend hides his phone and I feel sick about it.")
    page.locator("#coach-chat .message-row").last.hover()
    page.locator("#coach-chat button[aria-label='Dislike']").last.click()
    # room for a comment appears; Enter saves it
    comment = page.locator("#coach-feedback-comment textarea")
    comment.wait_for(state="visible")
    comment.fill("It asked me a question instead of giving me words to use")
    comment.press("Enter")
    page.locator("#coach-feedback-comment").wait_for(state="hidden")
    out = subprocess.run([COACH, "eval", "feedback", "--json"], capture_output=True, text=True,
                         timeout=120, env=child_env(COACH_HOME=str(server["home"])))
    report = json.loads(out.stdout)["feedback"]
    assert report["rated"] >= 1 and report["by_value"].get("Dislike", 0) >= 1, out.stderr
    assert report["by_backend"]["scripted"]["Dislike"] >= 1 and report["commented"] >= 1
    assert "words to use" not in out.stdout  # the report is counts only


def test_an_empty_chat_offers_starters_that_send_when_tapped(browser, server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(server["url"])
        pg.wait_for_selector("#coach-input textarea")
        starter = pg.locator("#coach-chat").get_by_text("I broke my partner's trust and I want "
                                                         "to repair it.")
        starter.click()
        rows = pg.locator("#coach-chat .message-row")
        deadline = time.monotonic() + 30
        def replied() -> bool:
            n = rows.count()
            return n >= 2 and "repair it" not in rows.nth(n - 1).inner_text() and bool(
                rows.nth(n - 1).inner_text().strip())
        while time.monotonic() < deadline and not replied():
            pg.wait_for_timeout(300)
        chat = pg.locator("#coach-chat").inner_text()
        assert "I broke my partner's trust and I want to repair it." in chat
        assert replied()  # the coach answered the starter
    finally:
        ctx.close()


@pytest.mark.parametrize("size", [(1366, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_chat_comes_first_and_help_is_one_tap_away(browser, server, size):
    """The conversation and the message box fill the first screen; panels fold away below."""
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(server["url"])
        pg.wait_for_selector("#coach-input textarea")
        send(pg, "My partner lied to me about money and I feel stupid for believing him")
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"web-chat-first-{size[0]}x{size[1]}.png"))
        chat = pg.locator("#coach-chat").bounding_box()
        box = pg.locator("#coach-input textarea").bounding_box()
        height = size[1]
        assert chat["y"] < 160, chat  # only the header and "Get help now" above the chat
        assert chat["height"] >= 0.45 * height, chat
        assert box["y"] + box["height"] <= height, (box, "the message box is below the fold")
        for panel in ("#coach-plan", "#coach-stage", "#coach-rating"):
            assert not pg.locator(panel).is_visible(), f"{panel} should be folded away"
        help_now = pg.locator("#coach-help").get_by_text("Get help now").first
        assert help_now.is_visible() and help_now.bounding_box()["y"] < 120
        help_now.click()
        pg.locator("#coach-help-text").wait_for(state="visible")
        assert "999" in pg.inner_text("#coach-help-text")  # the UK emergency number
        pg.screenshot(path=str(ARTIFACTS / f"web-help-open-{size[0]}x{size[1]}.png"))
    finally:
        ctx.close()


def _rows(pg) -> int:
    return pg.locator("#coach-chat .message-row").count()


@pytest.mark.parametrize("page", [(1366, 900), (390, 844)], indirect=True,
                         ids=["desktop", "phone"])
def test_undo_retry_and_edit_the_last_message(page, server):
    send(page, "My wife had an affair last year and I found out from her phone")
    second = "I check her phone every night now and I hate it"
    send(page, second)
    rows = _rows(page)
    # undo: the message goes back into the box and leaves the conversation
    page.locator("#coach-chat .message-row").last.hover()
    page.locator("#coach-chat button[aria-label='Undo']").last.click()
    box = page.locator("#coach-input textarea")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and box.input_value() != second:
        page.wait_for_timeout(200)
    assert box.input_value() == second
    assert second not in page.inner_text("#coach-chat") and _rows(page) == rows - 2
    box.click()
    page.keyboard.press("Enter")
    _last_reply(page, rows - 2)
    # retry: a new reply to the same message, which is still there once
    page.locator("#coach-chat .message-row").last.hover()
    page.locator("#coach-chat button[aria-label='Retry']").last.click()
    page.wait_for_timeout(2500)
    chat = page.inner_text("#coach-chat")
    assert chat.count(second) == 1 and _rows(page) == rows
    # edit: the last message, changed in place, is answered again
    user_rows = page.locator("#coach-chat .message-row.user-row")
    user_rows.last.hover()
    page.locator("#coach-chat button[aria-label='Edit']").last.click()
    editor = page.locator("#coach-chat textarea").last
    editor.fill("I check her phone some nights and I hate it")
    page.locator("#coach-chat").get_by_role("button", name="Submit").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "some nights" not in page.inner_text("#coach-chat"):
        page.wait_for_timeout(200)
    page.wait_for_timeout(2000)
    chat = page.inner_text("#coach-chat")
    assert "some nights" in chat and second not in chat
    # the store keeps what the person kept: the export has the edited message only (the turn
    # is stored when its reply ends, which on a busy machine can be after the page shows it)
    env = child_env(COACH_HOME=str(server["home"]))
    deadline, exported, why = time.monotonic() + 30, "", ""
    while time.monotonic() < deadline and "some nights" not in exported:
        listed = json.loads(subprocess.run([COACH, "sessions", "list", "--json"],
                                           capture_output=True, text=True, timeout=60,
                                           env=env).stdout)
        newest = listed[0]["id"]
        done = subprocess.run([COACH, "sessions", "export", newest], capture_output=True,
                              text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        exported, why = done.stdout, (listed, done.stderr)
        if "some nights" not in exported:
            time.sleep(1)
    assert "some nights" in exported and second not in exported, why


SLOW_REPLY = ["That sounds ", "really hard. "] + [
    f"Sentence {i} of a long reply that keeps going while you read it. " for i in range(1, 40)]


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """`coach serve` in front of a model that writes slowly (one piece every 0.2 s)."""
    from fake_openai import FakeServer

    model = FakeServer(tokens=SLOW_REPLY)
    model.trickle = 0.2
    home = tmp_path_factory.mktemp("slow_home")
    try:
        with _serving(home, "openai", OPENAI_BASE_URL=model.url, OPENAI_API_KEY="k",
                      COACH_MODEL="fake-model", COACH_LLM_TIMEOUT="60") as url:
            yield {"url": url, "home": home, "model": model}
    finally:
        model.close()


@pytest.mark.parametrize("size", [(1366, 900), (390, 844)], ids=["desktop", "phone"])
def test_stop_ends_a_slow_reply_and_the_model_stops_writing(browser, slow_server, size):
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    model = slow_server["model"]
    try:
        pg.goto(slow_server["url"])
        box = pg.locator("#coach-input textarea")
        box.wait_for()
        start = model.sent  # (the slow model is shared by the tests of this module)
        box.fill("Can we talk about communication? We keep fighting about the same thing.")
        box.press("Enter")
        stop = pg.locator("#coach-stop")
        stop.wait_for(state="visible")
        rows = pg.locator("#coach-chat .message-row")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "really hard" not in rows.last.inner_text():
            pg.wait_for_timeout(100)
        assert "really hard" in rows.last.inner_text()  # the reply is streaming
        stop.click()
        pg.get_by_text("You stopped this reply").wait_for()
        pg.wait_for_timeout(1500)
        sent = model.sent
        pg.wait_for_timeout(1500)
        assert model.sent == sent < start + len(SLOW_REPLY)  # told to stop, the model did
        assert not stop.is_visible()
        assert "Sentence 39" not in pg.inner_text("#coach-chat")
        assert "remote model" in pg.inner_text("#coach-status")
        assert "built-in guidance" not in pg.inner_text("#coach-status")  # the model wrote it
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"web-stopped-{size[0]}x{size[1]}.png"))
    finally:
        ctx.close()


def test_the_ai_notice_shows_and_comes_back_after_three_hours(page, server):
    """The header and welcome say it is an AI; after three hours (the session's clock is set
    back in its database, as if the person had kept talking) a reply says so again."""
    assert "an AI coach, not a person and not a therapist" in page.inner_text("#coach-ai-notice")
    send(page, "My husband lied to me about money and I feel stupid.")
    chat = page.inner_text("#coach-chat")
    assert "I'm an AI coach" in chat and "reminder: you're talking with an AI" not in chat
    from coach.store import SessionStore

    store = SessionStore(f"sqlite:///{server['home'] / 'coach.db'}")
    try:
        sid = store.list_sessions(limit=1)[0].id
        state = store.get_state(sid)
        state["ai_notice_at"] -= 3 * 3600 + 5
        store.set_state(sid, state)
    finally:
        store.close()
    reply = send(page, "I keep going over it at night.")
    assert "reminder: you're talking with an AI coach" in reply
    assert "not a person" in reply


def test_the_published_crisis_protocol_opens_from_the_help_panel(page):
    page.locator("#coach-help").get_by_text("Get help now").first.click()
    page.locator("#coach-protocol").get_by_text("How the coach handles a crisis").click()
    text = page.locator("#coach-protocol-text")
    text.wait_for(state="visible")
    body = text.inner_text()
    assert "What the coach looks for" in body and "Urgent:" in body
    assert "crisis referral" in body and "so far (counts only, no identifiers)" in body
