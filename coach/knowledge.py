"""Guidance cards: load, validate, and chunk user-added material.

A card is Markdown with YAML front matter (schema in `knowledge/README.md`). Loading never
stops at the first bad file: every problem is collected as a one-line message naming the file
and the field, and the valid cards are returned.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from .config import data_dir

STAGES = (
    "understand",
    "root_causes",
    "self_awareness",
    "communication",
    "boundaries",
    "consistency",
    "forgiveness",
    "patience",
    "intimacy",
    "professional_help",
    "safety",
)
AUDIENCES = ("hurt_partner", "partner_who_broke_trust", "both")
# The roles a card's guidance can fit (`fits`), and whose weekly actions it may list.
ROLES = ("hurt_partner", "partner_who_broke_trust", "own_insecurity")
MIN_WORDS, MAX_WORDS = 80, 250
MAX_FILE_BYTES = 2_000_000
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}$")
_FRONT_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.S)


@dataclass(frozen=True)
class Card:
    """One unit of guidance the coach can retrieve and cite."""

    id: str
    title: str
    stage: str
    topics: tuple[str, ...]
    audience: str
    sources: tuple[str, ...]
    body: str
    tip: str = ""
    questions: tuple[str, ...] = ()
    origin: str = "curated"  # "curated" or "user"
    path: str = ""
    fits: tuple[str, ...] = ()        # roles the guidance fits (empty: read from `audience`)
    answers: tuple[str, ...] = ()     # questions, in users' words, that the card answers
    say: tuple[str, ...] = ()         # phrasings the person could use with their partner
    actions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (role, things to do this week)
    question_roles: tuple[tuple[str, ...], ...] = ()  # per question: the roles it suits (() all)

    @property
    def text(self) -> str:
        """The text that is embedded and searched. (`answers` stay out: adding them to the
        embedded or the keyword text each cost a query of recall@3 on evals/retrieval.yaml.)"""
        return f"{self.title}\n{' '.join(self.topics)}\n{self.tip}\n{self.body}".strip()

    def fits_role(self, role: str) -> bool:
        """Whether this guidance may be given to someone in `role`.

        Guidance written for the other partner is never right: a card for the partner who
        broke trust never reaches the hurt partner, nor the reverse, nor someone with doubts.
        """
        if self.fits:
            # Role not known yet: only guidance that fits every kind of person.
            return role in self.fits if role in ROLES else len(self.fits) == len(ROLES)
        if self.audience == "both":
            return True
        return role == self.audience

    def questions_for(self, role: str) -> tuple[str, ...]:
        """The questions that are right to ask this person: a question written for one kind of
        person ("what could you do reliably this week?") is never put to another; while the
        role is not known, only questions that suit every role the card fits."""
        out = []
        for i, q in enumerate(self.questions):
            suits = self.question_roles[i] if i < len(self.question_roles) else ()
            if not suits or (role in suits if role in ROLES else
                             set(self.fits or ROLES) <= set(suits)):
                out.append(q)
        return tuple(out)

    def actions_for(self, role: str) -> tuple[str, ...]:
        return dict(self.actions).get(role, ())

    @property
    def content_hash(self) -> str:
        raw = "\x1f".join(
            [self.title, self.stage, self.audience, ",".join(self.topics), self.tip,
             "\x1e".join(self.questions), self.body, self.origin, ",".join(self.fits),
             "\x1e".join(self.answers), "\x1e".join(self.say), repr(self.actions),
             repr(self.question_roles) if any(self.question_roles) else ""]
        )
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass
class LoadResult:
    cards: list[Card] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def cards_dir() -> Path:
    return data_dir("knowledge") / "cards"


def word_count(text: str) -> int:
    return len(re.findall(r"\b[\w'’-]+\b", text))


def _as_list(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def parse_card(path: Path) -> Card:
    """Parse and validate one card file; raises ValueError('<file>: <field>: <problem>')."""
    name = path.name

    def bad(fld: str, problem: str) -> ValueError:
        return ValueError(f"{name}: {fld}: {problem}")

    raw = path.read_bytes()
    if not raw.strip():
        raise bad("file", "is empty")
    if len(raw) > MAX_FILE_BYTES:
        raise bad("file", f"is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad("file", "is not UTF-8 text") from None
    m = _FRONT_RE.match(text.replace("\r\n", "\n"))
    if not m:
        raise bad("front matter", "missing (the file must start with a '---' YAML block)")
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" near line {line + 2}" if line is not None else ""
        raise bad("front matter", f"is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise bad("front matter", "must be a mapping of fields")
    body = m.group(2).strip()

    for key in ("id", "title", "stage", "audience"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise bad(key, "is missing or not text")
    card_id = meta["id"].strip()
    if not _ID_RE.match(card_id):
        raise bad("id", f"{card_id!r} must be a slug (lowercase letters, digits, hyphens)")
    stage = meta["stage"].strip()
    if stage not in STAGES:
        raise bad("stage", f"unknown stage {stage!r} (one of: {', '.join(STAGES)})")
    audience = meta["audience"].strip()
    if audience not in AUDIENCES:
        raise bad("audience", f"unknown audience {audience!r} (one of: {', '.join(AUDIENCES)})")
    topics = _as_list(meta.get("topics"))
    if not topics:
        raise bad("topics", "must be a non-empty list of words")
    sources = _as_list(meta.get("sources"))
    if sources is None:
        raise bad("sources", "must be a list of seed file names, or 'none'")
    sources = [] if sources in (["none"], []) else sources
    tip = meta.get("tip") or ""
    questions, question_roles = _questions(meta.get("questions"), bad)
    if stage != "safety":
        if not isinstance(tip, str) or not tip.strip():
            raise bad("tip", "is required outside the safety stage (one plain sentence)")
        if not 1 <= len(questions) <= 3:
            raise bad("questions", "needs 1 to 3 open questions outside the safety stage")
    if not isinstance(tip, str):
        raise bad("tip", "must be text")
    n = word_count(body)
    if not MIN_WORDS <= n <= MAX_WORDS:
        raise bad("body", f"has {n} words (must be {MIN_WORDS}-{MAX_WORDS})")
    fits = _as_list(meta.get("fits") or [])
    if fits is None or any(f not in ROLES for f in fits):
        raise bad("fits", f"must be a list of roles ({', '.join(ROLES)})")
    if audience != "both" and fits and any(f != audience and f != "own_insecurity"
                                           for f in fits):
        raise bad("fits", f"contradicts audience {audience!r}")
    answers = _as_list(meta.get("answers") or [])
    say = _as_list(meta.get("say") or [])
    if answers is None or say is None:
        raise bad("answers" if answers is None else "say", "must be a list of text")
    raw_actions = meta.get("actions") or {}
    if not isinstance(raw_actions, dict):
        raise bad("actions", "must map a role to a list of actions")
    actions = []
    for role, items in raw_actions.items():
        listed = _as_list(items)
        if role not in ROLES or listed is None or (fits and role not in fits):
            raise bad("actions", f"{role!r}: needs a role the card fits and a list of actions")
        actions.append((role, tuple(a.strip() for a in listed if a.strip())))
    return Card(
        id=card_id, title=meta["title"].strip(), stage=stage, topics=tuple(topics),
        audience=audience, sources=tuple(sources), body=body, tip=tip.strip(),
        questions=tuple(q.strip() for q in questions), path=str(path),
        question_roles=question_roles if any(question_roles) else (),
        fits=tuple(fits), answers=tuple(a.strip() for a in answers),
        say=tuple(x.strip() for x in say), actions=tuple(actions),
    )


def _questions(raw, bad) -> tuple[list[str], tuple[tuple[str, ...], ...]]:
    """`questions`: each a string (it suits everyone the card fits) or {ask: text, for: roles}."""
    if raw is None:
        return [], ()
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list):
        raise bad("questions", "must be a list of questions")
    texts, roles = [], []
    for item in raw:
        if isinstance(item, dict):
            ask, suits = item.get("ask"), _as_list(item.get("for") or [])
            if not isinstance(ask, str) or not ask.strip() or not suits or any(
                    r not in ROLES for r in suits):
                raise bad("questions", "a question with `for` needs `ask` (text) and `for` "
                                       f"(a list of roles: {', '.join(ROLES)})")
            texts.append(ask)
            roles.append(tuple(suits))
        elif isinstance(item, str):
            texts.append(item)
            roles.append(())
        else:
            raise bad("questions", "each question is text, or {ask: text, for: [roles]}")
    return texts, tuple(roles)


def load_cards(directory: Path | None = None) -> LoadResult:
    """Load every `*.md` card under `directory`; bad cards become errors, not exceptions."""
    directory = directory or cards_dir()
    result = LoadResult()
    if not directory.is_dir():
        result.errors.append(f"{directory}: folder not found")
        return result
    seen: dict[str, str] = {}
    for path in sorted(directory.rglob("*.md")):
        try:
            card = parse_card(path)
        except (ValueError, OSError) as exc:
            result.errors.append(str(exc))
            continue
        if card.id in seen:
            result.errors.append(f"{path.name}: id: duplicate id {card.id!r} (also in {seen[card.id]})")
            continue
        seen[card.id] = path.name
        result.cards.append(card)
    return result


# ---- user-added material -------------------------------------------------------------

USER_SUFFIXES = (".md", ".txt", ".markdown")
_CHUNK_WORDS = 180
_STAGE_HINTS = {
    "root_causes": ("cause", "childhood", "affair", "cheat", "betray", "infidel", "lie", "lied"),
    "self_awareness": ("trigger", "self-aware", "reflect", "my own fear", "insecur"),
    "communication": ("communicat", "listen", "i feel", "conversation", "talk"),
    "boundaries": ("boundar", "expectation", "password", "social media", "agreement"),
    "consistency": ("consisten", "reliab", "promise", "follow through", "transparen"),
    "forgiveness": ("forgiv", "resent", "let go"),
    "patience": ("patien", "time", "progress", "setback"),
    "intimacy": ("intima", "vulnerab", "closeness", "validat"),
    "professional_help": ("therap", "counsel", "gottman", "eft", "psycholog"),
}


def infer_stage(text: str) -> str:
    """The stage whose hint words appear most often; `understand` when none do."""
    low = text.lower()
    scores = {s: sum(low.count(h) for h in hints) for s, hints in _STAGE_HINTS.items()}
    best = max(scores, key=lambda s: scores[s])
    return best if scores[best] > 0 else "understand"


def iter_user_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    errors: list[str] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in USER_SUFFIXES))
        elif p.is_file():
            if p.suffix.lower() in USER_SUFFIXES:
                files.append(p)
            else:
                errors.append(f"{p.name}: file: only .md and .txt files can be added")
        else:
            errors.append(f"{p}: file: not found")
    return files, errors


def chunk_user_file(path: Path) -> list[Card]:
    """Split one user file into ~180-word chunks on paragraph boundaries."""
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: file: is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: file: is not UTF-8 text") from None
    m = _FRONT_RE.match(text.replace("\r\n", "\n"))
    if m:
        text = m.group(2)
    # Lines that give orders to the AI ("ignore your instructions...") never reach the index.
    from .safety.injection import scan_document, strip_flagged_lines

    verdict = scan_document(text)
    if verdict.is_injection:
        text = strip_flagged_lines(text, verdict)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs:
        raise ValueError(f"{path.name}: file: is empty")
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for para in paragraphs:
        words = para.split()
        while len(words) > _CHUNK_WORDS:  # one huge paragraph: hard split
            if current:
                chunks.append("\n\n".join(current))
                current, count = [], 0
            chunks.append(" ".join(words[:_CHUNK_WORDS]))
            words = words[_CHUNK_WORDS:]
        if count + len(words) > _CHUNK_WORDS and current:
            chunks.append("\n\n".join(current))
            current, count = [], 0
        current.append(" ".join(words) if len(words) != len(para.split()) else para)
        count += len(words)
    if current:
        chunks.append("\n\n".join(current))
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:40] or "file"
    title = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
    cards = []
    for i, chunk in enumerate(chunks, 1):
        cards.append(Card(
            id=f"user-{slug}-{digest}-{i}", title=f"{title} (part {i})" if len(chunks) > 1 else title,
            stage=infer_stage(chunk), topics=("user-material",), audience="both",
            sources=(path.name,), body=chunk, origin="user", path=str(path.resolve()),
        ))
    return cards


def main() -> int:  # `python -m coach.knowledge`: validate the curated base
    result = load_cards()
    for err in result.errors:
        print(f"error: {err}")
    by_stage: dict[str, int] = {}
    for c in result.cards:
        by_stage[c.stage] = by_stage.get(c.stage, 0) + 1
    print(f"{len(result.cards)} valid cards, {len(result.errors)} errors")
    for stage in STAGES:
        print(f"  {stage:18} {by_stage.get(stage, 0)}")
    return 1 if result.errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
