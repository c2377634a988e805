"""Privacy-safe logging: ids, sizes, timings and categories by default, never what people write.

`setup_logging()` is called once by the CLI entry point. Our own code logs message text only
through `redact(text)`, which gives "<N chars>" unless the debug switch COACH_LOG_TEXT=1 is on
(then it says so loudly at start). Tracebacks can carry text inside exception messages, so by
default a logged exception keeps its type and place but loses its message.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

LOGGER = "coach"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "coach-private"
TEXT_WARNING = (
    "COACH_LOG_TEXT=1: logs WILL include what people write. Use this only to debug on your "
    "own data, and turn it off before anyone else uses this app."
)


def log_text_enabled() -> bool:
    """True when the debug switch COACH_LOG_TEXT=1 allows message text in logs."""
    from .settings import SettingsError, settings

    try:
        return settings().log_text
    except SettingsError:
        return False


def redact(text: object) -> str:
    """What a log line may say about a message: its size, or (debug switch on) the text."""
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    return repr(text) if log_text_enabled() else f"<{len(text)} chars>"


class PrivacyFilter(logging.Filter):
    """Removes exception messages and stack text from records unless text logging is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if log_text_enabled():
            return True
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            where = traceback.extract_tb(tb)[-1] if tb else None
            place = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
            record.msg = f"{record.getMessage()} [{kind.__name__}{place}; details hidden]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        record.stack_info = None
        if not (record.name or "").startswith(LOGGER) and record.args:
            # Other libraries may put request bodies in their arguments: keep only the template.
            record.msg = f"{record.msg} [arguments hidden]"
            record.args = None
        return True


def _level() -> int:
    from .settings import SettingsError, settings

    try:
        raw = settings().log_level
    except SettingsError:
        raw = "WARNING"
    level = logging.getLevelName(raw)
    return level if isinstance(level, int) else logging.WARNING


def setup_logging(stream=None) -> logging.Handler:
    """Send log records to stderr (or `stream`) through the privacy filter; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(PrivacyFilter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER).setLevel(_level())
    if log_text_enabled():
        print(f"coach: WARNING: {TEXT_WARNING}", file=stream or sys.stderr, flush=True)
    return handler
