"""The structured session: stages in order, what a turn needs, jumps and returns.

Pure logic over a small serialisable `SessionState`; no I/O, no model. The engine asks
`plan_turn()` what to do for a user message and applies `advance()` afterwards.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = (
    "welcome", "understand", "root_causes", "self_awareness", "communication", "boundaries",
    "consistency", "forgiveness", "patience", "intimacy", "professional_help", "plan",
)
COACHING_STAGES = STAGES[2:11]
ROLES = ("hurt_partner", "partner_who_broke_trust", "own_insecurity", "unknown")
UNDERSTAND_MIN, UNDERSTAND_MAX = 2, 3

# Words that name a stage when the user asks to talk about it ("let's talk about boundaries").
_STAGE_WORDS: dict[str, tuple[str, ...]] = {
    "understand": ("what happened",),
    "root_causes": ("root cause", "where it comes from", "where this comes from", "why i can't trust",
                    "causes"),
    "self_awareness": ("trigger", "my own fear", "self-awareness", "self awareness", "my insecurit"),
    "communication": ("communicat", "how to talk", "how we talk", "i feel statement", "listening"),
    "boundaries": ("boundar", "agreement", "expectations"),
    "consistency": ("consisten", "follow through", "follow-through", "keeping promises", "reliab"),
    "forgiveness": ("forgiv",),
    "patience": ("patience", "how long", "going slow", "setback"),
    "intimacy": ("intima", "closeness", "vulnerab", "connection"),
    "professional_help": ("therap", "counsel", "gottman", "eft", "professional help"),
    "plan": ("action plan", "make a plan", "a plan", "the plan", "wrap up", "next steps",
             "sum up", "what should i do first", "steps i can"),
}
_JUMP_RE = re.compile(
    r"\b(let'?s|lets|can we|could we|i want to|i'd like to|id like to|i wanna|want to|talk about|"
    r"focus on|go back to|move on to|switch to|help me with|what about|can you give me|"
    r"give me|show me|i need)\b", re.I)

_ROLE_PATTERNS = [
    ("partner_who_broke_trust", re.compile(
        r"\b(i|i've|ive)\s+(cheated|lied|had an? (\w+ )?affair|betrayed|broke (her|his|their|my partner'?s) trust|"
        r"was unfaithful|messed up|hid|kept (it|things) from)\b"
        r"|\bi'?m the one who (cheated|lied|broke)|\bmy (affair|lie|lies|cheating)\b", re.I)),
    ("hurt_partner", re.compile(
        r"\b(he|she|they|my (partner|husband|wife|boyfriend|girlfriend|fianc[eé]e?|spouse|bf|gf))\s+"
        r"(has been |had been |was |is )?(cheated|cheating|lied|lying|had an? (\w+ )?affair|"
        r"(is|was) having an? (\w+ )?affair|betrayed|"
        r"hid|hiding|kept|texting (his|her) ex|broke my trust|was unfaithful)"
        # what they did, found out by the writer: "she never told me", "I found texts between
        # my wife and her coworker", "he's been seeing someone"
        r"|\b(he|she|they|my (partner|husband|wife|boyfriend|girlfriend|fianc[eé]e?|spouse|bf|gf))"
        r"\s+(never|didn'?t|did not) (tell|told) me\b"
        r"|\b(he|she|they)(('s| has| had| have)? been| was| were) (secretly )?(meeting|seeing|"
        r"sleeping with|talking to|messaging|texting) (up )?(with )?(someone|another|her|him|an?|"
        r"his|their)\b"
        r"|\bi (found|saw|discovered|caught|read) (\w+ ){0,3}(messages|texts|photos|pictures|"
        r"emails|dms|chats|an app) (between|from|to) (my|him|her|them)\b"
        r"|\bi (found out|discovered|caught) (that )?(my (partner|husband|wife|boyfriend|"
        r"girlfriend|fianc[eé]e?|spouse|bf|gf)|he|she)\b", re.I)),
    ("own_insecurity", re.compile(
        r"\b(hasn'?t done anything|never done anything|did nothing wrong|nothing happened|"
        r"my (own )?insecurit|i'?m (just )?insecure|my past|my ex (cheated|lied)|"
        r"i can'?t trust anyone|trust issues from)", re.I)),
]
_AGREE_RE = re.compile(r"^\s*(yes|yeah|yep|sure|ok|okay|sounds (good|doable|great)|that works|"
                       r"i agree|agreed|deal|let'?s do it|looks good)\b", re.I)
_DISAGREE_RE = re.compile(r"^\s*(no|nope|not really|change|drop|remove)\b", re.I)


@dataclass
class SessionState:
    """Where a session is; stored as JSON with the session."""

    stage: str = "welcome"
    role: str = "unknown"
    turns_in_stage: int = 0
    visited: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)       # questions already asked
    used_cards: list[str] = field(default_factory=list)
    plan_items: list[str] = field(default_factory=list)
    plan_offered: bool = False
    plan_agreed: bool = False
    understand_asked: list[str] = field(default_factory=list)
    abuse_raised: bool = False
    self_harm_step: int = 0          # which safety question the self-harm protocol asks next
    cleared: list[str] = field(default_factory=list)  # risks the person said are past
    # risks that already had the urgent protocol; while they stay urgent only in the light of
    # earlier messages, later turns follow up (the safety questions) instead of repeating it
    urgent_given: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)  # what the person already told us
    role_evidence: dict[str, float] = field(default_factory=dict)  # summed reading confidence
    check_in: str = ""  # the category the coach just asked about directly (awaiting an answer)
    checked_in: list[str] = field(default_factory=list)  # check-ins answered "no" this session
    user_turns: int = 0
    ai_notice_at: float = 0.0  # when the person was last told, here, that this is an AI
    turn_no: int = 0  # every message the person sent, whichever route answered it
    spoken_notice: bool = False  # voice mode said aloud that this is an AI

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SessionState":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def audience(self) -> str | None:
        """The card audience that fits the user's role."""
        return {"hurt_partner": "hurt_partner",
                "partner_who_broke_trust": "partner_who_broke_trust"}.get(self.role)


def detect_role(text: str) -> str | None:
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(text):
            return role
    return None


def requested_stage(text: str) -> str | None:
    """A stage the user explicitly asks to talk about, if any."""
    low = text.lower()
    if not _JUMP_RE.search(low) and len(low.split()) > 4 and "?" not in low:
        return None  # a question about a topic ("would couples therapy help?") asks for it
    for stage, words in _STAGE_WORDS.items():
        if any(w in low for w in words):
            return stage
    return None


def is_agreement(text: str) -> bool:
    return bool(_AGREE_RE.match(text)) and not _DISAGREE_RE.match(text)


def next_stage(state: SessionState) -> str:
    """The next stage in order that has not been visited (skipping what does not apply)."""
    order = list(STAGES)
    start = order.index(state.stage) + 1 if state.stage in order else 1
    for stage in order[start:]:
        if stage in state.visited and stage != "plan":
            continue
        if stage == "forgiveness" and state.role == "own_insecurity":
            continue  # nobody broke trust: there is nothing to forgive
        return stage
    return "plan"


@dataclass(frozen=True)
class TurnPlan:
    stage: str
    jumped: bool
    kind: str  # "understand" | "coach" | "plan" | "plan_confirm"


def plan_turn(state: SessionState, text: str) -> TurnPlan:
    """Decide the stage and kind of reply for this user message (state is not changed)."""
    jump = requested_stage(text)
    if jump == state.stage and jump in COACHING_STAGES:
        return TurnPlan(jump, False, "coach")  # asked to stay on this topic: another card
    if jump and jump != "understand":
        return TurnPlan(jump, jump != state.stage, "plan" if jump == "plan" else "coach")
    if state.stage == "plan" and state.plan_offered and not state.plan_agreed:
        return TurnPlan("plan", False, "plan_confirm")
    if state.stage in ("welcome", "understand"):
        enough = state.turns_in_stage + 1 >= UNDERSTAND_MIN and (
            state.role != "unknown" or detect_role(text) or state.turns_in_stage + 1 >= UNDERSTAND_MAX)
        if state.stage == "welcome" or not enough:
            return TurnPlan("understand", False, "understand")
        return TurnPlan("root_causes", False, "coach")
    if state.stage == "plan":
        return TurnPlan("plan", False, "plan_confirm" if not state.plan_agreed else "coach")
    stage = next_stage(state) if state.turns_in_stage >= 1 else state.stage
    return TurnPlan(stage, False, "plan" if stage == "plan" else "coach")


def advance(state: SessionState, plan: TurnPlan, text: str) -> SessionState:
    """Record that a turn of `plan` happened for `text`."""
    role = detect_role(text)
    if role and state.role == "unknown":  # later changes need clear evidence (engine.remember)
        state.role = role
    if plan.stage != state.stage:
        state.stage, state.turns_in_stage = plan.stage, 0
    state.turns_in_stage += 1
    if plan.stage not in state.visited:
        state.visited.append(plan.stage)
    state.user_turns += 1
    return state
