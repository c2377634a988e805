"""The Gradio page: layout and event wiring only (what happens lives in handlers.WebSessions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ..config import coach_home
from ..errors import CoachError
from ..settings import settings
from . import view
from .handlers import TurnView, WebSessions, new_state

# Leaving quickly: wipe what is on screen, replace this page in the history (Back does not
# return here) and go to a neutral site. It runs in the browser only; the server sends nothing.
# Thumbs up and down under every reply; the other options sit under the flag icon. Kept with
# the session on this machine, in exports, and counted by `coach eval feedback`.
FEEDBACK_OPTIONS = ("Like", "Dislike", "Didn't answer my question", "Felt robotic or repetitive",
                    "Felt unsafe or wrong for me")

# Ways in for an empty chat, one for each kind of person the coach is for.
STARTERS = (
    "My partner broke my trust and I don't know how to move forward.",
    "I broke my partner's trust and I want to repair it.",
    "I keep doubting my partner even though nothing has happened.",
    "What can you help with, and what can't you?",
)

# Events only the page itself may call: hidden from Gradio's API and refused to its clients.
UI_ONLY = "private"


def marked_player(player: gr.Audio) -> gr.Audio:
    """The coach's voice player, marking what it keeps: Gradio streams the spoken reply in
    pieces and then joins them into one file (the player's download, WAV or MP3); that file is
    marked as AI-generated (a RIFF INFO list, or an ID3 tag). (Wrapped on the instance: a
    subclass of a Gradio component makes Gradio write a .pyi file beside this module.)"""
    joined = player.combine_stream

    async def combine_stream(stream, desired_output_format=None, only_file=False):
        out = await joined(stream, desired_output_format, only_file)
        path = Path(out.path)
        if path.exists():
            from ..voice.audio import id3_tag, mark_wav

            data = path.read_bytes()
            if path.suffix == ".wav":
                path.write_bytes(mark_wav(data))
            elif path.suffix == ".mp3" and not data.startswith(b"ID3"):
                path.write_bytes(id3_tag() + data)
        return out

    player.combine_stream = combine_stream
    return player


def leave_js() -> str:
    """The quick-exit script, going to COACH_QUICK_EXIT_URL."""
    return _LEAVE_JS.replace("QUICK_EXIT_URL", repr(settings().quick_exit_url))


def head() -> str:
    """The page head: no referrer, and Escape twice leaves quickly."""
    return _HEAD.replace("QUICK_EXIT_URL", repr(settings().quick_exit_url))


_LEAVE_JS = """
() => {
  try { document.title = 'Weather'; document.body.innerHTML = ''; } catch (e) {}
  window.location.replace(QUICK_EXIT_URL);
}
"""

_HEAD = """
<meta name="referrer" content="no-referrer">
<script>
(function () {
  var last = 0;
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    var now = Date.now();
    if (now - last < 800) {
      try { document.title = 'Weather'; document.body.innerHTML = ''; } catch (err) {}
      window.location.replace(QUICK_EXIT_URL);
    }
    last = now;
  }, true);
})();
</script>
"""

CSS = """
.coach-muted { opacity: 0.75; font-style: italic; }
#coach-help { border: 2px solid #b45309; border-radius: 10px; }
#coach-help > button span { font-weight: 700; color: #9a3412; }
#coach-ai-notice p { margin: 0; font-size: 0.9em; }
button#coach-quick-exit { font-weight: 700; background: #b91c1c; color: #ffffff;
  border-color: #7f1d1d; }
.coach-source summary { cursor: pointer; font-weight: 600; }
"""


def theme() -> gr.themes.Base:
    """A calm theme with system fonts only (no font downloads from outside hosts)."""
    return gr.themes.Soft(
        primary_hue="teal", neutral_hue="slate",
        font=[gr.themes.Font("system-ui"), gr.themes.Font("Segoe UI"), "sans-serif"],
        font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
    )


def privacy_text(backend: str) -> str:
    """The first-use notice: what is kept, where, and how to delete it."""
    where = coach_home()
    remote = ("\n- Replies are written by a **remote model**: your messages are sent to the model "
              "server this app was set up with." if backend == "openai" else
              "\n- Nothing you write leaves this computer.")
    return (
        "**Your privacy.** This coach keeps your conversations so you can come back to them:\n"
        f"- What is stored: your messages, the coach's replies, optional check-ins and your plan.\n"
        f"- Where: on the computer running the coach, in `{where}`."
        f"{remote}\n"
        "- To delete: open **Sessions and privacy** and choose **Delete this session**, or run "
        "`coach sessions delete ID`.\n\n"
        "The coach is not therapy and cannot diagnose anyone. If you are in danger, use the "
        "**Get help now** panel."
    )


def build(web: WebSessions) -> gr.Blocks:
    """The whole page for one WebSessions."""
    region0 = web.region
    with gr.Blocks(title="Trust Coach", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        state = gr.State(new_state())
        privacy_seen = gr.BrowserState(False, storage_key="trust-coach-privacy-seen")
        # Chat first: a one-line header with "Get help now" beside it, the conversation, the
        # message box; everything else folds away below and never pushes the chat down.
        gr.Markdown("**Trust Coach** · an AI coach, not a person and not a therapist · for "
                    "adults, not suitable for children", elem_id="coach-ai-notice")
        # "Get help now" is one tap away at all times: the first thing under the header.
        with gr.Accordion("Get help now", open=False, elem_id="coach-help") as help_box:
            region = gr.Dropdown(web.region_choices(), value=region0, label="Where you are",
                                 elem_id="coach-region")
            help_md = gr.Markdown(web.help_markdown(region0), elem_id="coach-help-text")
            with gr.Accordion("How the coach handles a crisis", open=False,
                              elem_id="coach-protocol"):
                gr.Markdown(web.protocol_markdown(), elem_id="coach-protocol-text")
        chat = gr.Chatbot(
            label="Conversation", show_label=False, elem_id="coach-chat", height="62vh",
            min_height=320,
            buttons=["copy"], feedback_options=FEEDBACK_OPTIONS, sanitize_html=True,
            autoscroll=True, editable="user", examples=[{"text": t} for t in STARTERS],
            placeholder="Write whatever is on your mind: what happened, how you feel, "
                        "or what you would like to change.")
        with gr.Row(equal_height=True, elem_id="coach-compose"):
            # lines=1: Enter sends and Shift+Enter adds a line (Gradio's rule for a one-line
            # box that grows up to max_lines), as in every chat app. The microphone (and an
            # audio upload) sit inside the box: a recording is transcribed and sent as text.
            box = gr.MultimodalTextbox(show_label=False,
                                       placeholder="Write a message… (Enter sends)",
                                       lines=1, max_lines=8, scale=5, elem_id="coach-input",
                                       autofocus=True, sources=["microphone", "upload"],
                                       file_types=["audio"], file_count="single",
                                       submit_btn=False, stop_btn=False)
            send = gr.Button("Send", variant="primary", scale=1, min_width=70,
                             elem_id="coach-send")
            stop_btn = gr.Button("Stop", variant="secondary", scale=1, min_width=70,
                                 visible=False, elem_id="coach-stop")
        with gr.Row(visible=False, equal_height=True, elem_id="coach-feedback-row") as fb_row:
            fb_text = gr.Textbox(show_label=False, lines=1, max_lines=4, scale=5,
                                 placeholder="Anything to add about that reply? (optional; "
                                             "kept with this conversation on this computer)",
                                 elem_id="coach-feedback-comment")
            fb_save = gr.Button("Save", size="sm", scale=1, min_width=70,
                                elem_id="coach-feedback-save")
        status = gr.Markdown(web.status(), elem_id="coach-status")
        quick = gr.Button("Quick exit (leave this page)", variant="stop", visible=False,
                          elem_id="coach-quick-exit")
        with gr.Group(visible=True, elem_id="coach-privacy") as privacy_box:
            gr.Markdown(privacy_text(web.coach.backend_name))
            privacy_ok = gr.Button("I understand", size="sm")
        with gr.Accordion("Topics so far", open=False, elem_id="coach-topics"):
            stage = gr.Markdown(web.stage_markdown("welcome"), elem_id="coach-stage")
        with gr.Accordion("Your plan", open=False, elem_id="coach-plan-box") as plan_box:
            plan = gr.Markdown(view.plan_markdown([]), elem_id="coach-plan")
        with gr.Accordion("Voice: hear the replies", open=False, elem_id="coach-voice"):
            gr.Markdown("To talk instead of typing, tap the microphone in the message box.")
            voice_on = gr.Checkbox(label="Read the coach's replies aloud", value=False,
                                   elem_id="coach-voice-on")
            speaker = marked_player(gr.Audio(streaming=True, autoplay=True, interactive=False,
                                             label="Coach's voice", elem_id="coach-speaker"))
        with gr.Accordion("Check-in: how secure do you feel today?", open=False,
                          elem_id="coach-checkin-box") as ci_box:
            rating = gr.Slider(0, 10, value=5, step=1, elem_id="coach-rating",
                               label="How secure do you feel in your relationship "
                                     "today? (0 = not at all, 10 = completely)")
            ci_save = gr.Button("Save check-in", size="sm", elem_id="coach-checkin")
            ci_text = gr.Markdown(view.checkin_summary([]))
            ci_plot = gr.LinePlot(x="check-in", y="rating", y_lim=[0, 10], height=200,
                                  label="Your check-ins", elem_id="coach-chart")
        with gr.Accordion("Sessions and privacy", open=False, elem_id="coach-sessions"):
            remember = gr.Checkbox(label="Remember a short summary for next time", value=False)
            with gr.Row():
                saved = gr.Dropdown(label="Saved sessions", choices=[], scale=4,
                                    elem_id="coach-saved")
                resume_btn = gr.Button("Resume", scale=1, elem_id="coach-resume")
            new_btn = gr.Button("New session", elem_id="coach-new")
            with gr.Row():
                fmt = gr.Radio(["Markdown", "JSON"], value="Markdown", label="Export format",
                               scale=2)
                export_btn = gr.Button("Export this session", scale=1, elem_id="coach-export")
            export_file = gr.File(label="Your export", visible=False,
                                  elem_id="coach-export-file")
            delete_btn = gr.Button("Delete this session", variant="stop",
                                   elem_id="coach-delete")
            with gr.Row(visible=False) as confirm_row:
                gr.Markdown("Delete this session and everything kept with it? "
                            "This cannot be undone.")
                confirm_yes = gr.Button("Yes, delete it", variant="stop",
                                        elem_id="coach-delete-yes")
                confirm_no = gr.Button("Cancel", elem_id="coach-delete-no")

        turn_outputs = [chat, state, stage, plan, help_md, quick, status, box, stop_btn,
                        help_box, plan_box]

        def pack(v: TurnView) -> tuple:
            for w in v.warnings:
                gr.Warning(w)
            keep = gr.skip()
            quick_update = (keep if v.quick_exit is None else gr.update(visible=v.quick_exit))
            return (v.chat, v.state,
                    keep if v.stage is None else v.stage,
                    keep if v.plan is None else v.plan,
                    keep if v.help is None else v.help,
                    quick_update,
                    keep if v.status is None else v.status,
                    keep if v.textbox is None else {"text": v.textbox, "files": []},
                    keep if v.running is None else gr.update(visible=v.running),
                    gr.update(open=True) if v.help_open else keep,  # a crisis reply opens help
                    gr.update(open=True) if v.plan_open else keep)

        def on_send(message, history, st, reg, rem, aloud, request: gr.Request):
            """A message from the box (typed, recorded or an audio file); with "read aloud" on,
            each sentence of the reply is spoken as soon as it is shown."""
            user = web.user_of(request)
            text, audio = _message_parts(message)
            quiet = tuple(gr.skip() for _ in turn_outputs)
            if audio:  # a recording from the microphone in the box, or an uploaded file
                try:
                    heard = web.transcribe(audio)
                except CoachError as exc:
                    gr.Warning(str(exc))  # what was typed stays; the unusable audio goes
                    out = list(quiet)
                    out[turn_outputs.index(box)] = {"text": text, "files": []}
                    yield (*out, None)
                    return
                text = f"{text} {heard}".strip()
            live = web.live_speech() if aloud else None
            try:
                for v in web.turn(text, history, st, user, reg, rem):
                    yield (*pack(v), None)
                    for chunk in (live.chunks(v) if live else ()):
                        yield (*quiet, chunk)
            except CoachError as exc:
                gr.Warning(str(exc))

        def on_starter(history, st, reg, rem, data: gr.SelectData, request: gr.Request):
            value = data.value if isinstance(data.value, dict) else {"text": data.value}
            for out in on_send(str(value.get("text") or ""), history, st, reg, rem, False,
                               request):
                yield out[:-1]  # the starter's reply is read aloud after it (speak_args)

        def on_speak(st, on):
            if not on or not st or not st.get("reply"):
                return
            try:
                yield from web.speak(st["reply"], st)
            except CoachError as exc:
                gr.Warning(str(exc))

        turn_args = dict(inputs=[box, chat, state, region, remember, voice_on],
                         outputs=[*turn_outputs, speaker], concurrency_id="turn",
                         show_progress="hidden")
        speak_args = dict(fn=on_speak, inputs=[state, voice_on], outputs=speaker,
                          concurrency_id="speech", concurrency_limit=2, show_progress="hidden",
                          api_visibility=UI_ONLY)
        # Refresh the saved-session list after each turn (a new session appears in it).
        def refresh_saved(request: gr.Request):
            return gr.update(choices=web.list_choices(web.user_of(request)))

        after = dict(fn=refresh_saved, inputs=None, outputs=saved, show_progress="hidden",
                     api_visibility=UI_ONLY)
        # Sending stays reachable (undocumented) for the page-level load benchmark; every other
        # event is the page's own business and not part of any API (the JSON API is /api/v1).
        for ev in (send.click(on_send, api_name="send", api_visibility="undocumented",
                              **turn_args),
                   box.submit(on_send, api_name="send_on_enter", api_visibility=UI_ONLY,
                              **turn_args)):
            ev.then(**after)  # (the reply was read aloud while it streamed)
        quick.click(None, js=leave_js())

        def on_stop(st, request: gr.Request):
            if not web.stop(st, web.user_of(request)):
                gr.Info("There is no reply being written right now.")

        stop_btn.click(on_stop, [state], None, api_visibility=UI_ONLY, show_progress="hidden",
                       concurrency_id="stop", concurrency_limit=None)

        def on_undo(st, data: gr.UndoData, request: gr.Request):
            try:
                v = web.undo(st, web.user_of(request))
            except CoachError as exc:
                gr.Warning(str(exc))
                return (gr.skip(),) * len(turn_outputs)
            return pack(v)

        def on_retry(st, data: gr.RetryData, request: gr.Request):
            try:
                for v in web.retry(st, web.user_of(request)):
                    yield pack(v)
            except CoachError as exc:
                gr.Warning(str(exc))

        def on_edit(st, history, data: gr.EditData, request: gr.Request):
            try:
                for v in web.edit(st, web.user_of(request), data.index, data.value, history):
                    yield pack(v)
            except CoachError as exc:
                gr.Warning(str(exc))

        chat.undo(on_undo, [state], turn_outputs, api_visibility=UI_ONLY, concurrency_id="turn",
                  show_progress="hidden")
        for ev in (chat.retry(on_retry, [state], turn_outputs, api_visibility=UI_ONLY,
                              concurrency_id="turn", show_progress="hidden"),
                   chat.edit(on_edit, [state, chat], turn_outputs, api_visibility=UI_ONLY,
                             concurrency_id="turn", show_progress="hidden")):
            ev.then(**speak_args)
            ev.then(**after)

        def on_like(st, history, data: gr.LikeData, request: gr.Request):
            value = data.liked if isinstance(data.liked, str) else (
                "Like" if data.liked else "Dislike")
            content = _reply_at(history or [], data.index, data.value)
            try:
                idx = web.feedback(st or {}, web.user_of(request), content, value)
            except CoachError as exc:
                gr.Warning(str(exc))
                return gr.skip(), gr.skip()
            gr.Info("Thank you: your feedback is saved with this conversation.")
            st = {**(st or {}), "feedback_turn": idx}
            return gr.update(visible=True), st  # room for a comment, if they want

        def on_comment(text, st, request: gr.Request):
            try:
                web.feedback_comment(st or {}, web.user_of(request), text)
            except CoachError as exc:
                gr.Warning(str(exc))
                return gr.skip(), gr.skip()
            gr.Info("Thank you: your comment is saved with your feedback.")
            return gr.update(visible=False), gr.update(value="")

        for ev in (fb_save.click, fb_text.submit):
            ev(on_comment, [fb_text, state], [fb_row, fb_text], api_visibility=UI_ONLY,
               show_progress="hidden")

        chat.like(on_like, [state, chat], [fb_row, state], api_visibility=UI_ONLY, show_progress="hidden")
        starter = chat.example_select(on_starter, [chat, state, region, remember], turn_outputs,
                                      api_visibility=UI_ONLY)
        starter.then(**speak_args)
        starter.then(**after)

        def on_region(reg, st):
            st = dict(st or new_state())
            st["region"] = reg
            if st.get("session"):
                web.coach.set_session_region(st["session"], reg)
            return web.help_markdown(reg), st

        region.change(on_region, [region, state], [help_md, state], show_progress="hidden",
                      api_visibility=UI_ONLY)

        def chart(request: gr.Request):
            rows = web.checkin_rows(web.user_of(request))
            return _frame(rows), view.checkin_summary(rows)

        def on_checkin(value, history, st, reg, rem, request: gr.Request):
            try:
                history, st = web.checkin(value, st, web.user_of(request), reg, rem, history)
            except CoachError as exc:
                gr.Warning(str(exc))
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            frame, summary = chart(request)
            gr.Info("Check-in saved.")
            return history, st, frame, summary

        ci_save.click(on_checkin, [rating, chat, state, region, remember],
                      [chat, state, ci_plot, ci_text], api_visibility=UI_ONLY)

        def on_load(seen, request: gr.Request):
            user = web.user_of(request)
            frame, summary = chart(request)
            return (gr.update(visible=not seen), gr.update(choices=web.list_choices(user)),
                    frame, summary)

        demo.load(on_load, [privacy_seen], [privacy_box, saved, ci_plot, ci_text],
                  api_visibility=UI_ONLY)
        privacy_ok.click(lambda: (True, gr.update(visible=False)), None,
                         [privacy_seen, privacy_box], api_visibility=UI_ONLY)

        session_outputs = turn_outputs

        def on_resume(sid, st, request: gr.Request):
            try:
                v = web.resume(sid, st or new_state(), web.user_of(request))
            except CoachError as exc:
                gr.Warning(str(exc))
                return (gr.skip(),) * len(session_outputs)
            return pack(v)

        resume_btn.click(on_resume, [saved, state], session_outputs, api_visibility=UI_ONLY)

        def on_new(st, reg, request: gr.Request):
            v = web.new_session(reg)
            return (*pack(v), gr.update(choices=web.list_choices(web.user_of(request))),
                    gr.update(value=None, visible=False), gr.update(open=True))

        new_btn.click(on_new, [state, region], [*session_outputs, saved, export_file, ci_box],
                      api_visibility=UI_ONLY)

        def on_export(st, kind, request: gr.Request):
            try:
                path = web.export(st or {}, web.user_of(request), kind)
            except CoachError as exc:
                gr.Warning(str(exc))
                return gr.skip()
            return gr.update(value=path, visible=True)

        export_btn.click(on_export, [state, fmt], export_file, api_visibility=UI_ONLY)

        delete_btn.click(lambda: gr.update(visible=True), None, confirm_row,
                         api_visibility=UI_ONLY)
        confirm_no.click(lambda: gr.update(visible=False), None, confirm_row,
                         api_visibility=UI_ONLY)

        def on_delete(st, reg, request: gr.Request):
            user = web.user_of(request)
            try:
                v = web.delete(st or {}, user)
            except CoachError as exc:
                gr.Warning(str(exc))
                return (gr.skip(),) * (len(session_outputs) + 3)
            gr.Info("The session was deleted.")
            return (*pack(v), gr.update(choices=web.list_choices(user), value=None),
                    gr.update(value=None, visible=False), gr.update(visible=False))

        confirm_yes.click(on_delete, [state, region],
                          [*session_outputs, saved, export_file, confirm_row],
                          api_visibility=UI_ONLY)
    return demo


def _message_parts(message: Any) -> tuple[str, str | None]:
    """(typed text, audio file or None) from the message box's value."""
    if isinstance(message, dict):
        files = [f.get("path") if isinstance(f, dict) else f for f in message.get("files") or []]
        audio = next((str(f) for f in files if f), None)
        return str(message.get("text") or ""), audio
    return str(message or ""), None


def _reply_at(history: list[Any], index: Any, value: Any) -> str:
    """The reply a like or dislike is for: the message at `index`, or (for the folded guidance
    note under a reply) the reply above it."""
    at = index[0] if isinstance(index, (list, tuple)) else index
    if isinstance(at, int) and 0 <= at < len(history):
        for m in reversed(history[:at + 1]):
            m = m if isinstance(m, dict) else {}
            if m.get("role") == "assistant" and not (m.get("metadata") or {}).get("title"):
                return _plain(m.get("content"))
    return _plain(value)


def _plain(content: Any) -> str:
    if isinstance(content, dict):
        content = content.get("value") or content.get("content") or content.get("text") or ""
    if isinstance(content, list):
        content = " ".join(_plain(c) for c in content)
    return str(content or "")


def _frame(rows: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(rows, columns=["check-in", "rating", "date"])
