"""Read other chatbots' conversations in the formats they come in.

- **JSONL**, one object per line: a turn `{"conversation", "user", "assistant"}`, or a whole
  conversation `{"conversation", "turns": [{"user", "assistant"}, ...]}` or
  `{"conversation", "messages": [{"role", "content"}, ...]}`.
- **JSON**: a message list `[{"role": ..., "content": ...}]` (one conversation), a list of such
  lists, `{"messages": [...]}`, or `{"conversations": [...]}` of any of these.
- **Plain text** (`.txt`, `.md`, or no suffix): blocks that start with `user:` and
  `assistant:` (also `agent:`, `bot:`, `coach:`, `ai:`, `chatbot:`, `human:`, `client:`,
  `person:`; any case, `**User:**` too). A line of `---` or `===` between blocks starts another
  conversation in the same file; `# conversation: NAME` names it.
- **A folder** of any of these: every `.jsonl`, `.json`, `.txt` and `.md` file in it, in name
  order.

Consecutive messages from the same side are joined; a reply before the first user message (a
welcome) and `system` messages are skipped. Anything else is an error naming the file and the
line (or message) where it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError

SUFFIXES = (".jsonl", ".json", ".txt", ".md")
USER_ROLES = {"user", "human", "client", "person", "me", "you"}
BOT_ROLES = {"assistant", "agent", "bot", "coach", "ai", "chatbot", "model", "gpt", "claude"}
_ROLE_LINE = re.compile(
    r"^\s*(?:[*_]{1,2})?(?P<role>user|human|client|person|assistant|agent|bot|coach|ai|chatbot|"
    r"model|system)(?:[*_]{1,2})?\s*[:>](?:[*_]{1,2})?\s?(?P<rest>.*)$", re.I)
_SEPARATOR = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
_NAME = re.compile(r"^\s*#+\s*conversation\s*[:=-]\s*(?P<name>.+?)\s*$", re.I)


def load(path: Path) -> list[Any]:
    """Conversations from a file or folder, as coach.evals.cases.Transcript objects."""
    from .cases import Transcript

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise InputError(f"{path}: no .jsonl, .json, .txt or .md files in this folder")
        out: list[Transcript] = []
        for f in files:
            out.extend(_load_file(f, prefix=f.stem))
        _unique(out)
        return out
    if not path.exists():
        raise InputError(f"{path}: file not found")
    out = _load_file(path, prefix=path.stem)
    _unique(out)
    return out


def _unique(items: list[Any]) -> None:
    seen: set[str] = set()
    for t in items:
        if t.conversation in seen:
            raise InputError(f"conversation {t.conversation!r} appears twice")
        seen.add(t.conversation)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path.name}: can't be read ({exc.strerror or exc})") from None


def _load_file(path: Path, prefix: str) -> list[Any]:
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path.name}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _from_jsonl(text, path.name)
    if suffix == ".json":
        return _from_json(text, path.name, prefix)
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        # A .txt that holds JSON: read it as JSON, with JSON's errors.
        return _from_json(text, path.name, prefix)
    return _from_text(text, path.name, prefix)


# ---- message lists --------------------------------------------------------------------------

def _pairs_from_messages(messages: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(messages, list):
        raise InputError(f"{where}: expected a list of messages")
    turns: list[list[str]] = []
    side = None
    for n, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            raise InputError(f"{where}: message {n}: expected an object with role and content")
        role = str(m.get("role", m.get("speaker", m.get("from", "")))).strip().lower()
        content = m.get("content", m.get("text", m.get("message")))
        if isinstance(content, list):  # content parts
            content = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p)
                               for p in content)
        if not role:
            raise InputError(f"{where}: message {n}: no role")
        if not isinstance(content, str):
            raise InputError(f"{where}: message {n}: content must be text")
        if role in ("system", "developer", "tool", "function"):
            continue
        if role in USER_ROLES:
            kind = "user"
        elif role in BOT_ROLES:
            kind = "bot"
        else:
            raise InputError(f"{where}: message {n}: unknown role {role!r} (use user or "
                             "assistant)")
        _add(turns, kind, content, side)
        side = kind if turns else None
    return _close(turns, where)


def _add(turns: list[list[str]], kind: str, content: str, side: str | None) -> None:
    content = content.strip()
    if kind == "user":
        if turns and side == "user":
            turns[-1][0] = (turns[-1][0] + "\n" + content).strip()
        else:
            turns.append([content, ""])
    elif turns:  # a reply before any user message is a welcome: skipped
        turns[-1][1] = (turns[-1][1] + "\n\n" + content).strip()


def _close(turns: list[list[str]], where: str) -> list[tuple[str, str]]:
    done = [(u, a) for u, a in turns if u.strip()]
    if not done:
        raise InputError(f"{where}: no user message found")
    if not done[-1][1]:
        done = done[:-1]  # the person's last message got no reply: nothing to judge there
        if not done:
            raise InputError(f"{where}: no reply from the chatbot found")
    return done


# ---- JSON and JSONL ---------------------------------------------------------------------------

def _from_json(text: str, name: str, prefix: str) -> list[Any]:
    from .cases import Transcript

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and "conversations" in data:
        data = data["conversations"]
        if not isinstance(data, list):
            raise InputError(f"{name}: 'conversations' must be a list")
    if isinstance(data, dict):
        return [_conversation_object(data, f"{name}", prefix)]
    if not isinstance(data, list) or not data:
        raise InputError(f"{name}: expected a list of messages or of conversations")
    if all(isinstance(m, dict) and ("role" in m or "speaker" in m) for m in data):
        return [Transcript(prefix, tuple(_pairs_from_messages(data, name)))]
    out = []
    for n, item in enumerate(data, 1):
        where = f"{name}: conversation {n}"
        if isinstance(item, list):
            out.append(Transcript(f"{prefix}-{n}", tuple(_pairs_from_messages(item, where))))
        elif isinstance(item, dict):
            out.append(_conversation_object(item, where, f"{prefix}-{n}"))
        else:
            raise InputError(f"{where}: expected a message list or an object")
    return out


def _conversation_object(obj: dict, where: str, default_id: str) -> Any:
    from .cases import Transcript

    cid = obj.get("conversation", obj.get("id", default_id))
    if not isinstance(cid, (str, int)) or isinstance(cid, bool):
        raise InputError(f"{where}: 'conversation' must be a string or number")
    if "messages" in obj:
        return Transcript(str(cid), tuple(_pairs_from_messages(obj["messages"], where)))
    if "turns" in obj:
        turns = obj["turns"]
        if not isinstance(turns, list) or not turns:
            raise InputError(f"{where}: 'turns' must be a non-empty list")
        pairs = []
        for n, t in enumerate(turns, 1):
            if not isinstance(t, dict) or not isinstance(t.get("user"), str) or not isinstance(
                    t.get("assistant"), str):
                raise InputError(f"{where}: turn {n}: needs 'user' and 'assistant' text")
            if not t["user"].strip():
                raise InputError(f"{where}: turn {n}: 'user' is empty")
            pairs.append((t["user"], t["assistant"]))
        return Transcript(str(cid), tuple(pairs))
    raise InputError(f"{where}: expected 'messages' or 'turns'")


def _from_jsonl(text: str, name: str) -> list[Any]:
    from .cases import Transcript

    order: list[str] = []
    turns: dict[str, list[tuple[str, str]]] = {}
    whole: list[Any] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line {n}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{name}: line {n}: expected a JSON object")
        if "turns" in row or "messages" in row:
            whole.append(_conversation_object(row, f"{name}: line {n}", f"line-{n}"))
            continue
        missing = [k for k in ("conversation", "user", "assistant") if k not in row]
        if missing:
            raise InputError(f"{name}: line {n}: missing {', '.join(missing)}")
        conv = row["conversation"]
        if not isinstance(conv, (str, int)) or isinstance(conv, bool):
            raise InputError(f"{name}: line {n}: 'conversation' must be a string or number")
        if not isinstance(row["user"], str) or not isinstance(row["assistant"], str):
            raise InputError(f"{name}: line {n}: 'user' and 'assistant' must be text")
        if not row["user"].strip():
            raise InputError(f"{name}: line {n}: 'user' is empty")
        key = str(conv)
        if key not in turns:
            order.append(key)
            turns[key] = []
        turns[key].append((row["user"], row["assistant"]))
    out = whole + [Transcript(c, tuple(turns[c])) for c in order]
    if not out:
        raise InputError(f"{name}: no turns found")
    return out


# ---- plain text -----------------------------------------------------------------------------

def _from_text(text: str, name: str, prefix: str) -> list[Any]:
    from .cases import Transcript

    out: list[Transcript] = []
    blocks: list[tuple[str, list[str], int]] = []  # (kind, lines, first line number)
    conv_name: str | None = None

    def finish(at_line: int) -> None:
        nonlocal blocks, conv_name
        if not blocks:
            return
        turns: list[list[str]] = []
        side = None
        for kind, lines, _ in blocks:
            if kind == "system":
                continue
            _add(turns, kind, "\n".join(lines), side)
            side = kind if turns else None
        where = f"{name}: conversation ending at line {at_line}"
        cid = conv_name or (prefix if not out else f"{prefix}-{len(out) + 1}")
        out.append(Transcript(cid, tuple(_close(turns, where))))
        blocks, conv_name = [], None

    for n, line in enumerate(text.splitlines(), 1):
        named = _NAME.match(line)
        if named:
            finish(n)
            conv_name = named.group("name")
            continue
        if _SEPARATOR.match(line):
            finish(n)
            continue
        m = _ROLE_LINE.match(line)
        if m:
            role = m.group("role").lower()
            kind = "system" if role == "system" else "user" if role in USER_ROLES else "bot"
            blocks.append((kind, [m.group("rest")], n))
            continue
        if not blocks:
            if line.strip():
                raise InputError(
                    f"{name}: line {n}: text before the first 'user:' or 'assistant:' line")
            continue
        blocks[-1][1].append(line)
    finish(len(text.splitlines()))
    out = [t for t in out if t.turns]
    if not out:
        raise InputError(f"{name}: no 'user:' / 'assistant:' blocks found")
    return out
