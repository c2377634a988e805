"""Crisis and support services per region, loaded from knowledge/resources.yaml."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError

FALLBACK_REGION = "international"
# What a service can be listed for; the safety categories plus the two support needs
# that are not screening categories.
SERVICE_CATEGORIES = (
    "self_harm",
    "abuse",
    "sexual_assault",
    "child_safety",
    "harm_to_others",
    "medical_emergency",
    "therapy",
)
REQUIRED_REGIONS = ("us", "uk", "ca", "au", "ie", "nz", "international")


@dataclass(frozen=True)
class Resource:
    """One support service: how to reach it and what it is for."""

    name: str
    region: str
    serves: tuple[str, ...]
    hours: str
    source: str
    checked: str
    phone: str | None = None
    text: str | None = None
    url: str | None = None

    def how_to_reach(self) -> str:
        """The ways to reach the service in plain words, e.g. 'call 988 or text 988'."""
        ways = []
        if self.phone and self.text and self.phone == self.text:
            ways.append(f"call or text {self.phone}")
        else:
            if self.phone:
                ways.append(f"call {self.phone}")
            if self.text:
                ways.append(f"text {self.text}")
        reach = " or ".join(ways)
        if self.url:
            reach = f"{reach} ({self.url})" if reach else self.url
        return reach

    @property
    def short_name(self) -> str:
        """The name without its bracketed explanation."""
        return self.name.split(" (")[0]

    def quickest(self) -> str:
        """The single quickest way in: 'call 988', 'text SHOUT to 85258' or the website."""
        if self.phone:
            return f"call {self.phone}"
        if self.text:
            return f"text {self.text}"
        return self.url or ""

    def markdown(self) -> str:
        """A single Markdown line for a list of services."""
        return f"**{self.name}**: {self.how_to_reach()} · {self.hours}"


@dataclass(frozen=True)
class _Region:
    code: str
    name: str
    aliases: tuple[str, ...]
    emergency: str
    services: tuple[Resource, ...]


_cache: dict[tuple[str, float], dict[str, _Region]] = {}


def resources_path() -> Path:
    """Where the resources file lives (the knowledge folder)."""
    return data_dir("knowledge") / "resources.yaml"


def _fail(path: Path, where: str, problem: str) -> KnowledgeError:
    return KnowledgeError(f"{path}: {where}: {problem}")


def _text_field(path: Path, where: str, entry: dict, key: str, required: bool) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise _fail(path, f"{where}.{key}", "missing")
        return None
    if isinstance(value, (_dt.date,)):
        value = value.isoformat()
    if isinstance(value, int):
        # YAML reads 988 as a number; a phone number is text to us.
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}.{key}", "must be non-empty text")
    return value.strip()


def _parse_service(path: Path, where: str, code: str, entry: object) -> Resource:
    if not isinstance(entry, dict):
        raise _fail(path, where, "must be a mapping of fields")
    name = _text_field(path, where, entry, "name", True)
    phone = _text_field(path, where, entry, "phone", False)
    text = _text_field(path, where, entry, "text", False)
    url = _text_field(path, where, entry, "url", False)
    if not (phone or text or url):
        raise _fail(path, where, "needs at least one of phone, text, url")
    if url and not url.startswith("https://"):
        raise _fail(path, f"{where}.url", "must start with https://")
    serves = entry.get("for")
    if not isinstance(serves, list) or not serves:
        raise _fail(path, f"{where}.for", "must be a non-empty list of categories")
    for cat in serves:
        if cat not in SERVICE_CATEGORIES:
            raise _fail(path, f"{where}.for", f"unknown category {cat!r}")
    checked = _text_field(path, where, entry, "checked", True)
    try:
        _dt.date.fromisoformat(checked or "")
    except ValueError:
        raise _fail(path, f"{where}.checked", "must be a date YYYY-MM-DD") from None
    return Resource(
        name=name or "",
        region=code,
        serves=tuple(serves),
        hours=_text_field(path, where, entry, "hours", True) or "",
        source=_text_field(path, where, entry, "source", True) or "",
        checked=checked or "",
        phone=phone,
        text=text,
        url=url,
    )


def _parse(path: Path) -> dict[str, _Region]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (crisis resources are required)") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("regions"), dict):
        raise _fail(path, "regions", "missing or not a mapping")
    out: dict[str, _Region] = {}
    for code, body in raw["regions"].items():
        where = f"regions.{code}"
        if not isinstance(body, dict):
            raise _fail(path, where, "must be a mapping")
        name = _text_field(path, where, body, "name", True)
        emergency = _text_field(path, where, body, "emergency", True)
        aliases = body.get("aliases") or []
        if not isinstance(aliases, list):
            raise _fail(path, f"{where}.aliases", "must be a list")
        services = body.get("services")
        if not isinstance(services, list) or not services:
            raise _fail(path, f"{where}.services", "must be a non-empty list")
        parsed = tuple(
            _parse_service(path, f"{where}.services[{i}]", str(code), s)
            for i, s in enumerate(services)
        )
        out[str(code).lower()] = _Region(
            code=str(code).lower(),
            name=name or "",
            aliases=tuple(str(a).lower() for a in aliases),
            emergency=emergency or "",
            services=parsed,
        )
    missing = [r for r in REQUIRED_REGIONS if r not in out]
    if missing:
        raise _fail(path, "regions", f"missing required region(s): {', '.join(missing)}")
    return out


def _regions() -> dict[str, _Region]:
    path = resources_path()
    try:
        key = (str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (crisis resources are required)") from None
    if key not in _cache:
        _cache.clear()
        _cache[key] = _parse(path)
    return _cache[key]


def load() -> None:
    """Load and validate the resources file now (raises KnowledgeError naming file and field)."""
    _regions()


def normalise_region(region: str | None) -> str:
    """A region code from what a person or setting gave; unknown becomes 'international'."""
    key = (region or "").strip().lower().replace("_", " ").replace("-", " ")
    table = _regions()
    if key in table:
        return key
    for code, reg in table.items():
        if key in reg.aliases:
            return code
    return FALLBACK_REGION


def regions() -> list[str]:
    """The region codes we hold services for."""
    return list(_regions())


def region_name(code: str) -> str:
    """The display name of a region ('United Kingdom'); aliases accepted."""
    return _regions()[normalise_region(code)].name


def emergency_number(region: str) -> str:
    """The number to call when a life is in danger in that region."""
    return _regions()[normalise_region(region)].emergency


def resources_for(region: str, category: str | None = None) -> list[Resource]:
    """Services for a region (optionally only those serving a category), in file order.

    A region without a service for the category gets the international ones for it, so the
    answer is never empty for a known category.
    """
    if category is not None and category not in SERVICE_CATEGORIES:
        raise ValueError(f"unknown resource category {category!r}")
    table = _regions()
    services = table[normalise_region(region)].services
    if category is None:
        return list(services)
    found = [s for s in services if category in s.serves]
    if not found:
        found = [s for s in table[FALLBACK_REGION].services if category in s.serves]
    # Specialist services (those that list the category first) before general ones.
    return sorted(found, key=lambda s: s.serves.index(category))
