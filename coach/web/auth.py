"""Who may use the web app: logins (COACH_AUTH / COACH_AUTH_FILE), session owners, rate limits."""

from __future__ import annotations

import hmac
import threading
import time
from pathlib import Path
from typing import Callable, Mapping

from ..errors import CoachError



class AuthConfigError(CoachError):
    """The login settings cannot be used as given."""


def _parse_line(line: str, where: str) -> tuple[str, str]:
    user, sep, password = line.partition(":")
    user = user.strip()
    if not sep or not user or not password:
        raise AuthConfigError(f"{where}: a login must look like user:password.")
    return user, password


def load_credentials(env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The (user, password) pairs from COACH_AUTH (one pair) and COACH_AUTH_FILE (one per line)."""
    if env is None:
        from ..settings import settings

        s = settings()
        env = {"COACH_AUTH": s.auth or "", "COACH_AUTH_FILE": str(s.auth_file or "")}
    pairs: list[tuple[str, str]] = []
    single = (env.get("COACH_AUTH") or "").strip()
    if single:
        pairs.append(_parse_line(single, "COACH_AUTH"))
    file_name = (env.get("COACH_AUTH_FILE") or "").strip()
    if file_name:
        path = Path(file_name).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AuthConfigError(
                f"COACH_AUTH_FILE {path} cannot be read ({exc.strerror or exc}).") from exc
        for number, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                pairs.append(_parse_line(line.rstrip("\r\n"), f"{path} line {number}"))
        if not pairs:
            raise AuthConfigError(f"COACH_AUTH_FILE {path} holds no user:password line.")
    users = [u for u, _ in pairs]
    if len(set(users)) != len(users):
        raise AuthConfigError("The same user name is listed twice in the login settings.")
    return pairs


def authenticator(pairs: list[tuple[str, str]]) -> Callable[[str, str], bool]:
    """A check(user, password) for Gradio's `auth=` that compares in constant time."""
    table = {u: p.encode() for u, p in pairs}

    def check(username: str, password: str) -> bool:
        expected = table.get(username or "")
        # Compare against a dummy too, so a wrong user name takes as long as a wrong password.
        given = (password or "").encode()
        ok = hmac.compare_digest(given, expected if expected is not None else b"\0" * 32)
        return ok and expected is not None

    return check


class StoreOwners:
    """Session owners kept in the session database, so every app process behind a load
    balancer sees the same ones."""

    def __init__(self, store) -> None:
        self.store = store

    def set(self, session_id: str, user: str) -> None:
        self.store.set_owner(session_id, user)

    def owner(self, session_id: str) -> str | None:
        return self.store.get_owner(session_id)

    def owned_by(self, user: str) -> set[str]:
        return self.store.sessions_owned_by(user)

    def forget(self, session_id: str) -> None:
        """Nothing to do: deleting the session deletes its owner row."""


class RateLimiter:
    """A token bucket per client: `per_minute` requests on average, bursts up to `burst`."""

    def __init__(self, per_minute: float, burst: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Take one token for `client`; False when it has none left (a rate of 0 means no limit)."""
        if self.rate <= 0:
            return True
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:  # forget idle clients so memory stays bounded
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}
            return True
