"""The web app: a Gradio page and a small JSON API on one local server (`coach serve`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..config import coach_home
from ..settings import set_gradio_temp_dir, settings
from ..errors import CoachError

__all__ = ["create_app", "is_loopback", "MAX_FILE_SIZE"]

MAX_FILE_SIZE = "30mb"  # a two-minute stereo WAV fits; anything bigger is not a voice message


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the app on this computer only."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _private_temp() -> None:
    # Uploaded recordings and exports are private: keep Gradio's file cache inside COACH_HOME.
    path = coach_home() / "web-cache"
    path.mkdir(mode=0o700, exist_ok=True)
    set_gradio_temp_dir(path)


def _preload_voice() -> None:
    """Load the speech models in the background so the first voice message is not slow."""
    import threading

    def load() -> None:
        try:
            from ..voice import available, stt, tts

            have = available()
            if have["stt"]:
                stt.load_model()
            if have["tts"]:
                tts.load_backend()
        except Exception:  # voice stays optional: a failure shows when someone uses it
            pass

    if settings().web_preload_voice:
        threading.Thread(target=load, name="voice-preload", daemon=True).start()


def create_app(coach: Any, credentials: list[tuple[str, str]] | None = None,
               region: str | None = None) -> Any:
    """A FastAPI app serving the page at / and the JSON API at /api/v1 for one Coach."""
    _private_temp()
    try:
        import gradio as gr
        from fastapi import FastAPI
    except ImportError:
        raise CoachError("The web app is not installed: pip install 'trust-coach[web]'.") from None
    from . import api
    from .app import CSS, build, head, theme
    from .auth import authenticator
    from .handlers import WebSessions

    check = authenticator(credentials) if credentials else None
    web = WebSessions(coach, login_required=check is not None, region=region)
    demo = build(web)
    limit = settings().web_concurrency
    demo.queue(default_concurrency_limit=limit, max_size=256)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api.router(web, check))
    app.state.web = web
    _preload_voice()
    return gr.mount_gradio_app(
        app, demo, path="/", auth=check, auth_message="Trust Coach: please log in.",
        max_file_size=MAX_FILE_SIZE, footer_links=[], ssr_mode=False, pwa=False,
        mcp_server=False, enable_monitoring=False, theme=theme(), css=CSS, head=head(),
        show_error=False)
