"""Output rails: deterministic checks on what the coach is about to say (no LLM involved).

Each sentence is checked on its own, so a streamed reply and a whole reply get the same
verdict. A match is excused when the sentence plainly negates it ("it's not a disorder to feel
jealous"), reports the user's own words or worries ("you wondered whether he's a narcissist"),
or, for monitoring, names its harm ("checking a phone can be a sign of control"). What is
excused depends on the kind: hedges like "whether" excuse a label but never a how-to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError

KINDS = ("diagnosis", "partner_certainty", "surveillance_howto", "couples_therapy",
         "medication", "legal", "promise", "system_prompt_leak")


@dataclass(frozen=True)
class RailContext:
    """What the rails need to know about the conversation."""

    abuse_raised: bool = False
    system_prompt: str | None = None
    # Text the reply may repeat word for word (e.g. a guidance card quoted in the prompt).
    allowed_text: tuple[str, ...] = ()
    leak_ngram: int = 8


@dataclass(frozen=True)
class RailVerdict:
    """ok, the violation kinds found (in order, no repeats), and a safe rewrite when not ok."""

    ok: bool
    violations: list[str] = field(default_factory=list)
    cleaned: str | None = None
    details: list[str] = field(default_factory=list)


# ---- patterns -------------------------------------------------------------------------

_I = re.IGNORECASE
_SUBJ = (r"(?:he|she|they|your (?:partner|husband|wife|boyfriend|girlfriend|spouse|fianc[eé]e?)"
         r"|(?:your )?(?:partner|husband|wife|boyfriend|girlfriend))")
_ADV = r"(?:(?:definitely|clearly|obviously|certainly|surely|probably|absolutely|100%|must be)\s+)?"
_POSS = (r"(?:their|his|her|your partner's|your (?:husband|wife|boyfriend|girlfriend|spouse)'s"
         r"|the other person's|someone's)")

_LABELS = re.compile(
    r"\b(narcissis(?:t|ts|tic|m)|sociopath(?:s|ic|y)?|psychopath(?:s|ic|y)?|borderline"
    r"|bipolar|personality disorder|disorder(?:ed)?|gaslight(?:ing|er|s|ed)?|gaslit"
    r"|manipulat(?:ive|or|ors|ing you|es you|ed you|ing)|toxic (?:person|partner|man|woman|"
    r"husband|wife|boyfriend|girlfriend|people)|codependen(?:t|cy)|love[- ]bomb(?:ing|er|ed)?"
    r"|emotionally unavailable|a (?:serial )?cheater|a (?:pathological )?liar"
    r"|you(?:'ve| have|'re| are| suffer from| might have| probably have| may have)(?: got)?\s+"
    r"(?:an? )?(?:ocd|ptsd|c-ptsd|adhd|depression|clinical depression|anxiety disorder|"
    r"generali[sz]ed anxiety|social anxiety|(?:anxious|avoidant|disorgani[sz]ed|fearful|insecure)"
    r" attachment(?: style)?|attachment (?:disorder|issues)|trauma bond|paranoi[ad]))\b", _I)

_CERTAINTY = re.compile(
    rf"\b{_SUBJ}\s*(?:is|'s|are|'re|has been|have been)\s+{_ADV}(?:cheating|lying|having an affair"
    r"|seeing someone|hiding (?:something|things|it)|sleeping with|unfaithful|in love with)"
    rf"|\b{_SUBJ}\s+{_ADV}(?:does not|doesn't|do not|don't|no longer|never|never really)\s+"
    r"(?:really\s+)?(?:love|loved|care about|cared about|respect|want|find) you"
    rf"|\b{_SUBJ}\s*(?:is|'s|are|'re)\s+{_ADV}(?:going to|gonna)\s+(?:leave|cheat|dump|lie)"
    rf"|\b{_SUBJ}\s+(?:will|'ll)\s+{_ADV}(?:cheat|leave you|do it again|never change|lie)"
    rf"|\b{_SUBJ}\s+{_ADV}(?:wants|want|is trying|'s trying|are trying) to (?:hurt|control|leave"
    r"|punish|trap|break) you"
    rf"|\b{_SUBJ}\s+{_ADV}(?:is doing|does|did) (?:this|it|that) on purpose"
    r"|\bthere(?:'s| is) (?:definitely|clearly|obviously|probably|certainly) (?:someone else"
    r"|another (?:man|woman|person)|an affair)", _I)

_SURVEILLANCE = re.compile(
    r"\b(?:install|put|download|set(?:ting)? up|hid(?:e|ing)|plant|attach|slip|use|using"
    r"|(?:install|putt|download|plant|attach|slipp)ing)\b[^.!?]{0,40}?\b(?:tracker|"
    r"tracking (?:app|device|software)|spyware|stalkerware|keylogger|spy (?:app|software)|"
    r"monitoring (?:app|software)|airtag|hidden camera)"
    r"|\b(?:read(?:ing)?|go(?:ing)? through|check(?:ing)?|look(?:ing)? (?:through|at)"
    r"|scroll(?:ing)? through|snoop(?:ing)? (?:on|through)|open(?:ing)?|screenshot(?:ting)?"
    r"|access(?:ing)?|log(?:ging)? in(?:to| to)|get(?:ting)? into|unlock(?:ing)?"
    r"|monitor(?:ing)?|track(?:ing)?|forward(?:ing)?)\s+"
    rf"{_POSS}\s+(?:\w+\s+)?(?:messages|texts|phone|emails?|dms|chats|whatsapp|instagram|"
    r"facebook|accounts?|(?:browser |search )?history|location|icloud|call log|snapchat|laptop)"
    r"|\b(?:guess(?:ing)?|crack(?:ing)?|hack(?:ing)?|bypass(?:ing)?|figur(?:e|ing) out"
    r"|work(?:ing)? out|get|getting|find(?:ing)? out)\s+(?:their|his|her|the)\s+"
    r"(?:\w+\s+)?(?:password|passcode|pin|pattern|login)"
    r"|\bwhile (?:he|she|they)(?:'s|'re| is| are)? (?:asleep|sleeping|sleeps?|in the shower)"
    r"|\bfind my (?:iphone|phone|device)\b|\b(?:mspy|flexispy|eyezy|cocospy|spyic|hoverwatch)\b"
    r"|\bwithout (?:them|him|her|your partner) (?:knowing|noticing|finding out)"
    r"|\bsecretly (?:check|read|track|follow|record|monitor|look)"
    r"|\b(?:fake|secret|burner) (?:account|profile)|\bloyalty test|\bhoney ?trap"
    r"|\bclone (?:their|his|her) (?:phone|sim)", _I)

_COUPLES = re.compile(
    r"\b(?:couples?|couple's|couples') (?:therapy|therapist|counsell?ing|counsell?or|sessions?"
    r"|coaching|retreat|workshop|work)|\bmarriage (?:counsell?ing|counsell?or|therapy|therapist)"
    r"|\brelationship (?:counsell?ing|counsell?or|therapy|therapist)|\bjoint (?:sessions?|"
    r"counsell?ing|therapy)|\b(?:therapy|counsell?ing|a therapist|a counsell?or|sessions?) together"
    r"|\bconfront (?:him|her|them|your partner|your (?:husband|wife|boyfriend|girlfriend))"
    r"|\b(?:talk|sit down) (?:to|with) (?:him|her|them|your partner) about (?:the|his|her|their)"
    r" (?:abuse|violence|behaviou?r|anger|control)|\bgottman\b|\bemotionally focused"
    r"|\bmediation\b", _I)

_MEDICATION = re.compile(
    r"\b(?:sertraline|zoloft|prozac|fluoxetine|citalopram|escitalopram|lexapro|paroxetine|paxil"
    r"|venlafaxine|effexor|bupropion|wellbutrin|xanax|alprazolam|valium|diazepam|lorazepam"
    r"|ativan|klonopin|clonazepam|propranolol|benzos?|ssris?)\b"
    r"|\b(?:take|try|start|start taking|stop taking|come off|get (?:some|a prescription for)"
    r"|ask (?:your doctor )?for)\s+(?:\w+\s+){0,2}(?:sleeping pills|antidepressants?|anti-anxiety"
    r" (?:medication|meds|pills)|medication|meds|pills|melatonin)\b"
    r"|\b(?:increase|reduce|lower|raise|change|double|skip) your "
    r"(?:dose|dosage|medication|meds)", _I)

_LEGAL = re.compile(
    r"\b(?:file for (?:divorce|custody|a restraining order|a protective order)|sue (?:him|her|"
    r"them|your)|take (?:him|her|them) to court|divorce (?:him|her|them)|get a divorce"
    r"|you(?:'re| are) (?:legally )?entitled to|press charges|that(?:'s| is) grounds for)\b", _I)

_PROMISE = re.compile(
    r"\b(?:this|that|it|these steps|these|doing this|following this)(?: plan| approach| exercise)?"
    r"\s*(?:will|is going to|'ll)\s+(?:definitely\s+|surely\s+|certainly\s+)?(?:save|fix|heal|"
    r"repair|restore|rescue) (?:your|the) (?:marriage|relationship|trust)"
    r"|\bi promise\b|\bi guarantee\b|\bguaranteed?\b"
    r"|\b(?:he|she|they)(?:'ll| will| is going to| are going to)\s+(?:definitely\s+|surely\s+|"
    r"certainly\s+)?(?:change|come back|stop|never do it again|never cheat again|be faithful)"
    r"|\beverything will be (?:fine|okay|ok|alright|all right)"
    r"|\byou(?:'ll| will) (?:definitely |surely )?(?:get (?:him|her|them) back|be together)\b", _I)

_LEAK = re.compile(
    r"\bmy (?:system prompt|system message|instructions|initial prompt|hidden prompt|programming"
    r"|guidelines|rules|setup) (?:say|says|tell|state|are|is|require)|\b(?:my|the|this) system "
    r"(?:prompt|message)\b|\bi (?:was|am|have been|'ve been) (?:instructed|programmed|prompted|"
    r"configured) to\b|\bhere (?:is|are) my (?:instructions|prompt|rules)", _I)

# Cues that excuse a match when they come shortly before it in the same clause.
_NEGATION = re.compile(
    r"\b(?:not|no|never|don't|doesn't|isn't|aren't|won't|can't|cannot|shouldn't|wouldn't|avoid"
    r"|avoiding|rather than|instead of|stop|refrain from|nothing about)\b|n't\b", _I)
# A label inside a question or a mention ("whether he's a narcissist", "labels like...").
_MENTION = re.compile(
    r"\b(?:whether|if|labels? like|words? like|terms? like|the word|the label|calling"
    r"|call (?:him|her|them|someone))\b", _I)
# Speculation excuses a claim of certainty, but not a label ("she might be a sociopath").
_SPECULATE = re.compile(
    r"\b(?:might|may|could|possible|possibly|maybe|perhaps|unsure|not sure|no way to know)\b", _I)
_REPORTED = re.compile(
    r"\b(?:you|you've|you have|you're|you are)\s+(?:been\s+)?(?:said|say|called|call|mentioned|"
    r"described|used|wondered|wonder|wondering|asked|asking|worried|worry|worrying|think|thought|"
    r"feel|felt|fear|feared|suspect|believe|afraid|scared|tempted|considered|considering|want|"
    r"wanted|felt the urge)\b|\b(?:worry|worries|fear|fears|feeling|thought|suspicion|sense"
    r"|question|urge|temptation)\s+(?:that|whether|if|to|of)\b|\btempting\b", _I)
# Said AFTER the action, as its predicate: "checking a phone can be a sign of control".
_HARM_FRAME = re.compile(
    r"\b(?:(?:sign|form|kind|way) of (?:control|abuse)|controlling|harms?|damag(?:e|es|ing)"
    r"|erodes?|undermines?|illegal|against the law|breach\w*|violat\w*|abuse|abusive|mistrust"
    r"|backfires?|not (?:a )?healthy|unhealthy|not okay|red flag|crosses a line"
    r"|invasion of (?:their |his |her )?privacy)\b", _I)
# Reflecting the user's urge to check is coaching, not a how-to.
_URGE = re.compile(
    r"\b(?:tempt\w*|urges?|pull|impulse|itch|want(?:ed)? to|wanting to|feels? like|felt like"
    r"|feels? as (?:if|though)"
    r"|consider(?:ed|ing)?|thought about|thinking about|wonder(?:ed|ing)? (?:whether|if|about))\b",
    _I)
# A sentence that opens by declining may list what it declines over several clauses.
_REFUSAL = re.compile(r"\W*(?:i can't|i cannot|i won't|i'm not able to|i am not able to"
                      r"|i'm unable to|i don't) (?:help|assist)\b", _I)
# Judged after the match, to the end of the sentence: "couples counselling, joint sessions and
# ... are not recommended".
_AFTER_NEG = re.compile(
    r"\b(?:is|are)\s+(?:usually\s+|often\s+|generally\s+)?not\s+(?:recommended|advised|safe"
    r"|a good idea)|\b(?:isn't|aren't)\s+(?:usually\s+)?(?:recommended|advised|safe|a good idea)"
    r"|\bnot (?:recommended|advised|safe)\b|\b(?:unsafe|risky|dangerous)\b"
    r"|\bat (?:greater |more )?risk\b", _I)
_CLAUSE_BREAK = re.compile(r"[,;:\u2014\u2013]|\s-\s|\bbut\b|\bso\b", _I)
_QUOTED = re.compile(r"\"[^\"]{1,200}\"|\u201c[^\u201d]{1,200}\u201d|'[^']{3,200}'(?!\w)")
# Sentence ends, paragraph breaks and list items end a sentence; a single line break inside
# wrapped prose does not.
_BOUNDARY = re.compile(r"[.!?\u2026]+[\"\u201d\u2019')\]]*(?:\s+|$)|\n[ \t]*\n\s*"
                       r"|\n(?=[ \t]*(?:[-*+]|\d+[.)])\s)")
_WORD = re.compile(r"[a-z0-9']+")


def _clause_before(sentence: str, start: int, words: int = 8) -> str:
    before = sentence[:start]
    pieces = _CLAUSE_BREAK.split(before)
    return " ".join(pieces[-1].split()[-words:]) if pieces else ""


def _excused(sentence: str, m: re.Match, kind: str) -> bool:
    before = _clause_before(sentence, m.start())
    # The whole sentence before the match: reported worries often sit a clause away.
    whole_before = sentence[:m.start()]
    if _NEGATION.search(before):
        return True
    if kind in ("couples_therapy", "medication", "legal", "promise"):
        if _AFTER_NEG.search(sentence[m.end():]):
            return True
    if kind in ("diagnosis", "partner_certainty", "legal", "promise", "medication"):
        if _MENTION.search(before) or _REPORTED.search(whole_before):
            return True
        if kind != "diagnosis" and _SPECULATE.search(before):
            return True
    if kind == "surveillance_howto":
        if (_URGE.search(whole_before) or _HARM_FRAME.search(sentence[m.end():])
                or _REFUSAL.match(sentence)):
            return True
    return False


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


_CHECKS: tuple[tuple[str, re.Pattern, bool], ...] = (
    # (kind, pattern, quoted words excused)
    ("diagnosis", _LABELS, True),
    ("partner_certainty", _CERTAINTY, True),
    ("surveillance_howto", _SURVEILLANCE, False),
    ("medication", _MEDICATION, False),
    ("legal", _LEGAL, False),
    ("promise", _PROMISE, False),
    ("system_prompt_leak", _LEAK, False),
)


def _squash(text: str) -> str:
    return " ".join(_WORD.findall(_normalise(text).lower()))


@lru_cache(maxsize=8)
def _allowed_squashed(allowed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_squash(a) for a in allowed)


def _is_allowed(sentence: str, context: RailContext) -> bool:
    """A sentence copied from reviewed text the engine composed (a card) is not re-judged."""
    squashed = _squash(sentence)
    return bool(squashed) and len(squashed.split()) >= 3 and any(
        squashed in a for a in _allowed_squashed(context.allowed_text))


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=8)
def _prompt_shingles(prompt: str, allowed: tuple[str, ...], n: int) -> frozenset:
    shared = set().union(*(_shingles(a, n) for a in allowed)) if allowed else set()
    return frozenset(_shingles(prompt, n) - shared)


def _leaks(text: str, context: RailContext) -> bool:
    if not context.system_prompt:
        return False
    prompt = _prompt_shingles(context.system_prompt, context.allowed_text, context.leak_ngram)
    return bool(prompt and _shingles(text, context.leak_ngram) & prompt)


def check_sentence(sentence: str, context: RailContext) -> list[tuple[str, str]]:
    """(kind, matched words) for every rule one sentence breaks."""
    text = _normalise(sentence)
    if _is_allowed(text, context):
        return []
    unquoted = _QUOTED.sub(" \u2026 ", text)
    found: list[tuple[str, str]] = []
    checks = list(_CHECKS)
    if context.abuse_raised:
        checks.insert(3, ("couples_therapy", _COUPLES, False))
    for kind, pattern, quotes_ok in checks:
        target = unquoted if quotes_ok else text
        for m in pattern.finditer(target):
            if not _excused(target, m, kind):
                found.append((kind, m.group(0)))
                break
    if _leaks(text, context):
        found.append(("system_prompt_leak", "long overlap with the system prompt"))
    return found


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences (each with its trailing space) and the unfinished rest."""
    pieces, pos = [], 0
    for m in _BOUNDARY.finditer(text):
        if m.end() == len(text) and not m.group(0)[-1].isspace():
            break  # a full stop at the very end may still be "3." of "3.5": wait for more
        pieces.append(text[pos:m.end()])
        pos = m.end()
    return pieces, text[pos:]


@lru_cache(maxsize=4)
def _fallbacks(path: str, mtime: float) -> dict[str, str]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    table = data.get("fallbacks") if isinstance(data, dict) else None
    if not isinstance(table, dict) or "default" not in table:
        raise KnowledgeError(f"{path}: fallbacks.default: missing")
    return {str(k): " ".join(str(v).split()) for k, v in table.items()}


def safe_fallback_sentence(kind: str) -> str:
    """A neutral sentence to say instead of one the rails blocked (wording from data)."""
    path = data_dir("prompts") / "safety" / "rails.yaml"
    try:
        table = _fallbacks(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (rail fallbacks are required)") from None
    return table.get(kind, table["default"])


def check_reply(text: str, context: RailContext | None = None) -> RailVerdict:
    """Check a whole reply; blocked sentences are replaced by fallbacks in `cleaned`."""
    context = context or RailContext()
    sentences, rest = split_sentences(text)
    if rest.strip():
        sentences.append(rest)
    kinds: list[str] = []
    details: list[str] = []
    out: list[str] = []
    for sentence in sentences:
        found = check_sentence(sentence, context)
        for kind, words in found:
            if kind not in kinds:
                kinds.append(kind)
            details.append(f"{kind}: {words!r}")
        if found:
            fallback = safe_fallback_sentence(found[0][0])
            if fallback not in out:
                out.append(fallback)
        else:
            out.append(sentence.strip())
    if "system_prompt_leak" not in kinds and _leaks(text, context):
        # The overlap spans sentences: nothing of the reply can be trusted.
        kinds.append("system_prompt_leak")
        details.append("system_prompt_leak: overlap across sentences")
        out = [safe_fallback_sentence("system_prompt_leak")]
    if not kinds:
        return RailVerdict(True, [], None, [])
    return RailVerdict(False, kinds, " ".join(s for s in out if s), details)


class StreamGuard:
    """Releases streamed text one checked sentence at a time; stops for good on a violation."""

    def __init__(self, context: RailContext | None = None) -> None:
        self.context = context or RailContext()
        self.tripped = False
        self.violations: list[str] = []
        self.details: list[str] = []
        self._buffer = ""
        self._released = ""

    def _release(self, sentences: list[str]) -> str:
        out = []
        for sentence in sentences:
            found = check_sentence(sentence, self.context)
            tail = " ".join(self._released.split()[-self.context.leak_ngram:])
            if not found and _leaks(f"{tail} {sentence}", self.context):
                found = [("system_prompt_leak", "overlap across sentences")]
            if found:
                self.tripped = True
                for kind, words in found:
                    if kind not in self.violations:
                        self.violations.append(kind)
                    self.details.append(f"{kind}: {words!r}")
                self._buffer = ""
                break
            out.append(sentence)
            self._released += sentence
        return "".join(out)

    def feed(self, chunk: str) -> str:
        """Add streamed text; return what is now safe to show (possibly '')."""
        if self.tripped:
            return ""
        self._buffer += chunk
        sentences, self._buffer = split_sentences(self._buffer)
        return self._release(sentences)

    def finish(self) -> str:
        """The checked remainder at the end of the stream ('' if it was blocked)."""
        if self.tripped or not self._buffer.strip():
            self._buffer = ""
            return ""
        rest, self._buffer = self._buffer, ""
        return self._release([rest])

    @property
    def fallback(self) -> str | None:
        """A neutral sentence the engine can show in place of the blocked text."""
        return safe_fallback_sentence(self.violations[0]) if self.tripped else None
