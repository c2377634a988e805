"""Private, durable storage of coaching sessions (SQLite by default, PostgreSQL by URL)."""

from .db import StoreError, default_url
from .sessions import (
    Checkin,
    Plan,
    SafetyEvent,
    Session,
    SessionInfo,
    SessionNotFound,
    SessionStore,
    Snapshot,
    Turn,
)

__all__ = [
    "Checkin",
    "Plan",
    "SafetyEvent",
    "Session",
    "SessionInfo",
    "SessionNotFound",
    "SessionStore",
    "Snapshot",
    "StoreError",
    "Turn",
    "default_url",
]
