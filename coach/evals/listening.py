"""Listening suite: multi-turn conversations with per-turn expectations, replayed through Coach.

Each case (evals/blind/listening_blind.yaml, a frozen set written blind) gives the person's
role and, per turn, what they are doing (intent), whether they asked something, and which facts
they have already stated. Measured per turn, all offline:
  answered       a question got an answer: guidance cited, words given when asked, an honest
                 answer about the coach, an honest no to a label, or the plan
  reasked        the coach's question asks for a fact the person already gave
  wrong_audience a cited card written for a different role than this person's
  identity       questions about the coach answered truly (an AI, not a person / therapist)
  openers        the share of replies that open with the most common first three words
  reading        the reading's intent accuracy and question detection against the labels
"""

from __future__ import annotations

import collections
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..config import data_dir
from ..errors import InputError

ROLE = {"hurt_partner": "hurt_partner", "broke_trust": "partner_who_broke_trust",
        "doubts": "own_insecurity"}
# A coach question that asks for a fact (key as in the set's `known`).
_ASKS_FACT = {
    "event": re.compile(r"^(can you |could you |would you )?(tell me|say) (a little |a bit |more )?"
                        r"about what happened\b|^what (exactly )?happened( between you| with "
                        r"(him|her|them))?\?", re.I),
    "when": re.compile(r"\bhow long (has|have|did|ago)\b|\bwhen did (this|it|you find)\b|"
                       r"\bhow long has this been\b", re.I),
    "ended": re.compile(r"\bis it (over|still going)\b|\bstill in (touch|contact)\b|"
                        r"\bhas (it|the affair) ended\b", re.I),
    "who_knows": re.compile(r"\bwho (else )?knows about (it|this|the affair|what (he|she|you) did)"
                            r"|\bdoes anyone (else )?know about (it|this|the affair)\b", re.I),
    "how_found": re.compile(r"\bhow did you find out\b|\bhow did you (learn|discover)\b", re.I),
    "duration": re.compile(r"\bhow long did it (go on|last)\b", re.I),
}
_HONEST_AI = re.compile(r"\b(AI coach|an AI|artificial intelligence|computer program)\b")
_NOT_PERSON = re.compile(r"not (a |an )?(person|human|therapist)", re.I)
_PRIVACY = re.compile(r"stays on this computer|stored|export or delete|database", re.I)
_NO_LABEL = re.compile(r"can'?t diagnose|won'?t put a (label|name)|can'?t know|can'?t make that "
                       r"call|only (they|he|she) can tell you", re.I)


def blind_sets() -> list[tuple[str, Path]]:
    """The frozen blind listening sets: (name, path), the first one first."""
    folder = data_dir("evals") / "blind"
    return [(p.stem, p) for p in sorted(folder.glob("listening_blind*.yaml"))]


def load_cases(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or data_dir("evals") / "blind" / "listening_blind.yaml"
    try:
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: can't read the listening cases ({exc})") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and c.get("turns")
                                              for c in cases):
        raise InputError(f"{path}: needs a list of cases, each with turns")
    return cases


def _questions(reply: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", reply) if s.strip().endswith("?")]


def judge_turn(turn: dict[str, Any], result: Any, role: str, cards: dict[str, Any],
               grounded: bool = True) -> dict:
    """The per-turn findings for one reply. `grounded` is False for a system that cites no
    guidance (the plain-chatbot baseline): the checks that rest on citations are not made
    (None) rather than failed."""
    reply = result.reply
    intent = turn.get("intent", "share")
    asked_q = bool(turn.get("question"))
    safety_reply = bool(result.resources)
    answered = None
    if asked_q:
        if intent == "coach":
            answered = bool(_HONEST_AI.search(reply) and (_NOT_PERSON.search(reply)
                                                          or _PRIVACY.search(reply)))
        elif intent == "label":
            answered = bool(_NO_LABEL.search(reply))
        elif not grounded:  # words in quotes are visible without citations; the rest is n/a
            words = intent == "words" or turn.get("wants_words")
            answered = bool(re.search(r"[\"“][^\"”]{8,}[\"”]", reply)) if words else None
        elif intent == "plan":
            answered = bool(result.plan) or bool(result.sources)
        elif intent == "words" or turn.get("wants_words"):
            answered = bool(re.search(r"[\"“][^\"”]{8,}[\"”]", reply)) and bool(result.sources)
        else:
            answered = bool(result.sources)
    known = set(turn.get("known") or [])
    reasked = sorted(k for k in known for q in _questions(reply)
                     if k in _ASKS_FACT and _ASKS_FACT[k].search(q))
    wrong = []
    for src in result.sources:
        card = cards.get(src["id"])
        if card is not None and card.origin == "curated" and not card.fits_role(ROLE[role]):
            wrong.append(src["id"])
    return {"text": turn["text"], "intent": intent, "question": asked_q, "answered": answered,
            "reasked": reasked, "wrong_audience": wrong, "safety_reply": safety_reply,
            "reply": reply, "sources": [s["id"] for s in result.sources],
            "identity_ok": answered if intent == "coach" else None}


def run_listening(llm: Any = "scripted", limit: int | None = None,
                  path: Path | None = None, plain: bool = False) -> dict[str, Any]:
    """Replay every case through a fresh session; return per-turn findings and totals.
    `plain` replays them through the plain-chatbot baseline on the same model instead."""
    from ..engine import Coach
    from ..reading import read
    from ..store import SessionStore
    from .bots import PlainChatbot

    cases = load_cases(path)[:limit] if limit else load_cases(path)
    with tempfile.TemporaryDirectory(prefix="coach-listen-") as tmp:
        store = SessionStore(f"sqlite:///{Path(tmp) / 'listen.db'}")
        if plain:
            from ..llm import get_backend

            coach = PlainChatbot(get_backend(llm) if isinstance(llm, str) else llm)
            cards: dict[str, Any] = {}
        else:
            coach = Coach(llm=llm, store=store)
            cards = {c.id: c for c in coach.index.all_cards()} if hasattr(
                coach.index, "all_cards") else {}
        rows, openers, reading_rows = [], [], []
        try:
            for case in cases:
                sid, _ = coach.start_session(region=case.get("region"))
                prev = None
                for turn in case["turns"]:
                    got = read(turn["text"], prev)
                    reading_rows.append((got.intent == turn.get("intent"),
                                         got.question == bool(turn.get("question"))))
                    result = coach.reply(sid, turn["text"])
                    row = judge_turn(turn, result, case["role"], cards, grounded=not plain)
                    row["case"] = case.get("id")
                    rows.append(row)
                    openers.append(" ".join(result.reply.lower().split()[:3]))
                    prev = result.reply
        finally:
            coach.close()
    asked = [r for r in rows if r["question"] and r["answered"] is not None]
    identity = [r for r in rows if r["identity_ok"] is not None]
    top_opener, top_count = collections.Counter(openers).most_common(1)[0] if openers else ("", 0)
    return {
        "cases": len(cases), "turns": len(rows), "backend": str(llm),
        "system": "plain" if plain else "coach",
        "questions_not_judged": sum(1 for r in rows if r["question"] and r["answered"] is None),
        "questions": len(asked),
        "questions_answered": sum(bool(r["answered"]) for r in asked),
        "answered_rate": round(sum(bool(r["answered"]) for r in asked) / max(len(asked), 1), 3),
        "reasked_facts": sum(len(r["reasked"]) for r in rows),
        "wrong_audience_citations": sum(len(r["wrong_audience"]) for r in rows),
        "identity_questions": len(identity),
        "identity_honest": sum(bool(r["identity_ok"]) for r in identity),
        "top_opener": top_opener, "top_opener_share": round(top_count / max(len(rows), 1), 3),
        "reading_intent_accuracy": round(sum(a for a, _ in reading_rows)
                                         / max(len(reading_rows), 1), 3),
        "reading_question_accuracy": round(sum(b for _, b in reading_rows)
                                           / max(len(reading_rows), 1), 3),
        "unanswered": [r for r in asked if not r["answered"]],
        "rows": rows,
    }
