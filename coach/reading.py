"""The reading of a user message: what the person is doing, their role, facts, topics, feelings.

Made before every reply and stored with the turn. No LLM: trained heads (a softmax each for
intent and role) over the same features as the risk classifier (MiniLM embedding + hashed word
n-grams), plus rules where rules are exact (questions about the coach, requests for a label,
stated facts such as when it happened or whether it is over). Weights ship in
data/reading_model.npz; `python -m coach.reading_train` rebuilds them from
data/reading_train.jsonl and reports accuracy per field on its held-out part.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
MODEL_FILE = DATA / "reading_model.npz"

INTENTS = ("advice", "words", "info", "coach", "label", "plan", "topic", "share", "answer",
           "agree", "disagree", "greeting", "closing")
ROLES = ("hurt_partner", "broke_trust", "doubts", "unclear")
# Intents that ask the coach for something: the reply must answer them first.
ASKING = ("advice", "words", "info", "coach", "label", "plan", "topic")
# The intent head routes to the about-the-coach or label answers from this probability (held-out
# precision 1.0 for both at 0.5); the exact rules route whenever they fire.
HEAD_ROUTE_P = 0.5
# Below this probability the role head's guess is reported as unclear.
ROLE_MIN_P = 0.0
# The session's role names (flow.py) for the reading's labels.
SESSION_ROLE = {"hurt_partner": "hurt_partner", "broke_trust": "partner_who_broke_trust",
                "doubts": "own_insecurity"}

# --- exact rules ------------------------------------------------------------------------------

_P = re.IGNORECASE
_COACH_Q = re.compile(
    r"\b(are|r) (you|u) (just )?(a |an |actually |really |even )?(real|human|person|bot|robot|ai|"
    r"a\.i\.|"
    r"machine|computer|chat ?bot|program|therapist|counsell?or|psychologist|doctor|licensed|"
    r"qualified|trained|alive|sentient)\b"
    r"|\b(is this|is that|am i (talking|chatting|speaking|typing) (to|with)|i'?m talking to) (just )?"
    r"(a |an |some |actual |real )?(real|human|person|bot|robot|ai|machine|therapist|computer|"
    r"program|someone|anyone)"
    r"|\b(is|are) (there )?(a |an )?(real )?(person|human|someone|anyone) (reading|on the other end|"
    r"behind|typing|there)"
    r"|\b(do|does|will|can|could) (you|anyone|someone|they|people|your company|the company) "
    r"(save|store|keep|record|log|read|see|share|sell|look at) (this|these|my|our|what i|"
    r"the (chat|conversation|messages))"
    r"|\bwho('?s| is) (reading|seeing|watching) (this|these|my)"
    r"|\bwho (made|built|created|programmed|owns|runs) (you|this)\b"
    r"|\bwho (can |else |could )?(see|sees|read|reads|has access to|stores?) (this|these|what i|my|"
    r"our|the (chat|conversation|messages))"
    r"|\b(is|are) (this|my|our) (chat|conversation|messages?|data) (private|saved|stored|recorded|"
    r"kept|shared|confidential)\b|\bwhere (is|are) (this|my|our) (chat|conversation|messages?|data)"
    r"|\bwhat are you\b|\bwhat can you do\b|\bhow do you work\b|\bwhat model\b", _P)
_LABEL_Q = re.compile(
    r"\b(is|was|are) (he|she|they|my (partner|husband|wife|boyfriend|girlfriend|bf|gf|ex|fianc\w*"
    r"|spouse)) (a |an |just |being |so )?(narcissist\w*|sociopath\w*|psychopath\w*|toxic|"
    r"manipulat\w*|gaslight\w*|abusive|a liar|lying|cheating|bipolar|borderline|an? addict|"
    r"emotionally unavailable|avoidant|a cheater|in love with|still in love)"
    r"|\b(am|was) i (crazy|paranoid|overreacting|insane|the problem|toxic|a bad person|a cheater|"
    r"being (paranoid|crazy|unreasonable|dramatic|controlling)|wrong to|codependent|an? idiot|"
    r"stupid)\b|\bis (this|that|it) (gaslighting|abuse|cheating|emotional cheating|"
    r"an emotional affair|manipulation|love bombing)\b|\bdoes (he|she) (love|still love|care "
    r"about) me\b|\bis (he|she) (going to|gonna) (cheat|do it) again\b"
    # asking for a diagnosis of themselves or of someone: "do I have an attachment disorder?"
    r"|\b(do|does|could|might|would) (i|he|she|they|my \w+) (have|has) (an? )?(\w+ ){0,2}(disorder|"
    r"attachment( style| issues)?|personality|ptsd|adhd|ocd|bpd|depression|anxiety)\b"
    r"|\b(is|there) (there )?something wrong with (me|him|her)\b"
    r"|\bam i (an? )?(narcissist\w*|sociopath\w*|psychopath\w*|avoidant|anxiously attached|"
    r"insecurely attached)\b", _P)
_QUESTION_START = re.compile(
    r"^\s*(how|what|why|when|where|who|which|should|would|could|can|is|are|am|do|does|did|will|"
    r"was|were|have|has|any (tips|advice|ideas)|tips|advice)\b", _P)
_INDIRECT_ASK = re.compile(
    r"\b(idk|i don'?t know|no idea|not sure|wish i knew|tell me|help me|give me|i need (to know|"
    r"help|advice|words)|what (do|should|can) i (say|do|tell)|how (do|can|should) i)\b", _P)
_WORDS_ASK = re.compile(
    r"\b(what (do|should|can|could) i (say|tell|write|text)|what to (say|tell|write)|how (do|can|"
    r"should|would) i (say|phrase|word|bring (it|this|that) up|tell (him|her|them)|start the "
    r"conversation|ask (him|her|them))|(exact|right|the) words|how to (say|phrase|word|bring)|"
    r"give me (a script|words|the words|something to say)|say instead)\b", _P)
_PLAN_ASK = re.compile(
    r"\b(a plan|the plan|my plan|action plan|next steps?|what now|where do (i|we) (start|go from "
    r"here)|sum (it |this )?up|summar\w+|homework|what should i do (first|this week|next)|steps "
    r"(i|we) can)\b", _P)
_GREETING = re.compile(r"^\s*(hi|hey|hello|hiya|yo|good (morning|evening|afternoon)|sup)\b[\s!.,]*"
                       r"(there|coach)?[\s!.]*$", _P)
_CLOSING = re.compile(r"^\s*(thanks?( you)?|thank u|ty|cheers|bye|goodnight|good night|that'?s "
                      r"(all|it)( for (now|tonight|today))?|i'?ll (come back|be back)|talk later)"
                      r"\b[^?]*$", _P)

# Facts stated by the person (what happened, when, whether it is over, who knows, how found).
_FACTS: dict[str, re.Pattern] = {
    "event": re.compile(
        r"\b(cheat\w*|affair|slept with|hooked up|sleeping with|lied|lying|lies|hid|hidden|"
        r"hiding|secret\w*|texting|sexting|messages? (from|to) (his|her) ex|dating app|tinder|"
        r"porn|flirt\w*|kissed|betray\w*|unfaithful|debt|gambl\w*|spent our savings)\b", _P),
    "when": re.compile(
        r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|few|couple of|several)\s+"
        r"(days?|weeks?|months?|years?|yrs?|wks?)\s+(ago|back)\b|\b(last|this past|past) (night|"
        r"week|weekend|month|year|summer|winter|spring|autumn|fall|christmas)\b|\byesterday\b|"
        r"\bthis (morning|week|month|year)\b|\bin (january|february|march|april|may|june|july|"
        r"august|september|october|november|december|\d{4})\b|\b\d+\s*(d|w|wk|mo|yr)s? ago\b"
        r"|\btoday\b|\bsince (january|february|march|april|may|june|july|august|september|"
        r"october|november|december|\d{4}|last \w+)\b", _P),
    "ended": re.compile(
        r"\b(it'?s over|it is over|(he|she|they) (ended|stopped|broke it off|cut (it|contact) off)"
        r"|ended it|broke it off|no (more )?contact|still (talking|texting|seeing|in contact|"
        r"messaging|sleeping)|hasn'?t ended|not over|still going on|(says|said|swears?|swore) "
        r"(it'?s|it was|it is) over|blocked (her|him))\b", _P),
    "who_knows": re.compile(
        r"\b(nobody|no one|noone) (else )?knows\b|\b(my|our|his|her) (family|friends|kids|children|"
        r"parents|mum|mom|dad|sister|brother|best friend) (knows?|found out|doesn'?t know|don'?t "
        r"know)\b|\b(told|haven'?t told|didn'?t tell) (my|our|anyone|nobody|his|her)\b", _P),
    "how_found": re.compile(
        r"\b(found|saw|read|discovered|caught|came across|noticed) (the |some |his |her |their )?"
        r"(texts?|messages?|emails?|dms?|photos?|pictures?|receipts?|bank|statements?|chats?|"
        r"phone|app|him|her|them)\b|\b(he|she|they) (told|confessed|admitted)\b|\bi (told|"
        r"confessed|admitted)\b", _P),
    "duration": re.compile(
        r"\bfor (\d+|a|an|one|two|three|four|five|six|several|a few|many) (days?|weeks?|months?|"
        r"years?)\b|\b(went on|been going on|lasted) (for )?", _P),
}
_TOPICS: dict[str, re.Pattern] = {
    "forgiveness": re.compile(r"\bforgiv\w*|\bresent\w*", _P),
    "communication": re.compile(r"\b(talk|talking|conversation|say|tell|listen|argu\w*|fight\w*|"
                                r"yell\w*|shut(s)? down|bring (it|this) up|communicat\w*)\b", _P),
    "boundaries": re.compile(r"\b(boundar\w*|no contact|passwords?|phone|location|transparen\w*|"
                             r"rules?|agreements?|fair to ask)\b", _P),
    "consistency": re.compile(r"\b(promise\w*|follow(s|ed)? through|consisten\w*|reliab\w*|"
                              r"actually changed|changed|keeps? saying)\b", _P),
    "patience": re.compile(r"\b(how long|takes? time|still (feel|hurt)|ever get better|"
                           r"setbacks?|bad days?|patien\w*)\b", _P),
    "emotional_intimacy": re.compile(r"\b(intima\w*|close(ness)?|sex|touch|distance|distant|"
                                     r"connect\w*|vulnerab\w*)\b", _P),
    "professional_help": re.compile(r"\b(therap\w*|counsel\w*|gottman|eft|psycholog\w*|"
                                    r"professional)\b", _P),
    "root_causes": re.compile(r"\b(why (did|would|do) (he|she|i)|where (it|this) comes from|"
                              r"root|childhood|growing up|my past|my ex)\b", _P),
    "deciding": re.compile(r"\b(stay or (go|leave)|should i (stay|leave|go)|leave (him|her)|"
                           r"divorce|break up|end (it|things))\b", _P),
}
_FEELINGS: dict[str, re.Pattern] = {
    "hurt": re.compile(r"\b(hurt\w*|heartbroken|broken|devastated|crushed)\b", _P),
    "angry": re.compile(r"\b(angry|anger|furious|rage|livid|mad|pissed)\b", _P),
    "betrayed": re.compile(r"\bbetray\w*\b", _P),
    "anxious": re.compile(r"\b(anxious|anxiety|panic\w*|on edge|worried|worry|nervous)\b", _P),
    "jealous": re.compile(r"\b(jealous\w*|envious)\b", _P),
    "ashamed": re.compile(r"\b(ashamed|shame|disgusted with myself|embarrass\w*)\b", _P),
    "guilty": re.compile(r"\b(guilt\w*|regret\w*|remorse)\b", _P),
    "sad": re.compile(r"\b(sad|sadness|down|depressed|miserable|crying|cry)\b", _P),
    "confused": re.compile(r"\b(confus\w*|lost|don'?t understand|makes no sense|torn)\b", _P),
    "lonely": re.compile(r"\b(lonely|alone|isolated)\b", _P),
    "numb": re.compile(r"\b(numb|empty|hollow)\b", _P),
    "hopeful": re.compile(r"\b(hope|hopeful|optimistic)\b", _P),
    "tired": re.compile(r"\b(tired|exhausted|drained|worn out)\b", _P),
    "insecure": re.compile(r"\b(insecur\w*|not good enough|inadequate)\b", _P),
    "afraid": re.compile(r"\b(afraid|scared|terrified|fear\w*|frightened)\b", _P),
    "frustrated": re.compile(r"\b(frustrat\w*|fed up|annoyed|sick of)\b", _P),
    "humiliated": re.compile(r"\b(humiliat\w*|stupid|foolish|like an idiot|naive)\b", _P),
}
_NEGATED_FEELING = re.compile(r"\b(not|n'?t|never|no longer|isn'?t|wasn'?t|am not|i'?m not)\s+"
                              r"(\w+\s+){0,2}$", _P)


def _feelings(text: str) -> list[str]:
    """Feelings the person names, skipping negated ones ("I'm not angry, just tired")."""
    out = []
    for name, pat in _FEELINGS.items():
        for m in pat.finditer(text):
            before = text[max(0, m.start() - 30):m.start()]
            clause = re.split(r"[,.;!?]|\bbut\b|\bjust\b", before)[-1]
            if not _NEGATED_FEELING.search(clause + " "):
                out.append(name)
                break
    return out[:3]


def is_question(text: str) -> bool:
    """True when the message asks something, with or without a question mark."""
    t = text.strip()
    return ("?" in t or bool(_QUESTION_START.match(t)) or bool(_INDIRECT_ASK.search(t))
            or bool(_WORDS_ASK.search(t)))


@dataclass(frozen=True)
class Reading:
    """What one user message is doing; stored with the turn (to_dict)."""

    intent: str = "share"
    intent_p: float = 0.0
    role: str = "unclear"
    role_p: float = 0.0
    question: bool = False
    wants_words: bool = False
    facts: dict[str, str] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    feelings: tuple[str, ...] = ()
    words: int = 0

    @property
    def asks(self) -> bool:
        """The person asks the coach for something that the reply must answer first."""
        return self.intent in ASKING

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["topics"], d["feelings"] = list(self.topics), list(self.feelings)
        return d


class ReadingModel:
    """Two softmax heads over the shared features: intent and role."""

    def __init__(self, Wi: np.ndarray, bi: np.ndarray, Wr: np.ndarray, br: np.ndarray) -> None:
        self.Wi, self.bi = np.asarray(Wi, np.float32), np.asarray(bi, np.float32)
        self.Wr, self.br = np.asarray(Wr, np.float32), np.asarray(br, np.float32)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> "ReadingModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["Wi"], z["bi"], z["Wr"], z["br"])

    def save(self, path: Path = MODEL_FILE) -> None:
        np.savez_compressed(path, Wi=self.Wi.astype(np.float16), bi=self.bi,
                            Wr=self.Wr.astype(np.float16), br=self.br)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities over INTENTS and over ROLES for each row of features."""
        return _softmax(X @ self.Wi.T + self.bi), _softmax(X @ self.Wr.T + self.br)


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(1, keepdims=True)
    P = np.exp(Z)
    return P / P.sum(1, keepdims=True)


def reading_features(texts: list[str], prev_coach: list[str | None]) -> np.ndarray:
    """Risk-classifier features plus: did the coach just ask something; is it a question."""
    from .safety.classifier import features

    X = features(texts)
    extra = np.array([[1.0 if (p and "?" in p) else 0.0, 1.0 if is_question(t) else 0.0,
                       min(len(t.split()), 60) / 60.0] for t, p in zip(texts, prev_coach)],
                     dtype=np.float32)
    return np.hstack([X, extra])


_MODEL: ReadingModel | None = None
_LOCK = threading.Lock()


def default_model() -> ReadingModel:
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = ReadingModel.load()
        return _MODEL


def read(text: str, prev_coach: str | None = None) -> Reading:
    """The reading of one message (the coach's previous message helps tell answers apart)."""
    text = text.strip()
    Pi, Pr = default_model().predict(reading_features([text], [prev_coach]))
    intent = INTENTS[int(Pi[0].argmax())]
    intent_p = float(Pi[0].max())
    role = ROLES[int(Pr[0].argmax())]
    role_p = float(Pr[0].max())
    question = is_question(text)
    # Exact rules first: they are right when they fire.
    if _COACH_Q.search(text):
        intent, intent_p = "coach", 1.0
    elif _LABEL_Q.search(text):
        intent, intent_p = "label", 1.0
    elif _WORDS_ASK.search(text):
        intent, intent_p = "words", max(intent_p, 0.9)
    elif _PLAN_ASK.search(text) and question:
        intent, intent_p = "plan", max(intent_p, 0.9)
    elif _GREETING.match(text):
        intent, intent_p = "greeting", 1.0
    elif _CLOSING.match(text) and not question:
        intent, intent_p = "closing", 1.0
    elif intent in ("coach", "label") and intent_p < HEAD_ROUTE_P:
        intent = "info" if question else "share"  # an unsure guess never routes on its own
    elif intent in ASKING and not question and intent_p < 0.6:
        intent = "share" if not (prev_coach and "?" in prev_coach) else "answer"
    elif intent not in ASKING and question and intent not in ("agree", "disagree", "greeting",
                                                                "closing"):
        intent = "info"  # a question the heads read as sharing still gets an answer
    from .flow import detect_role

    ruled = detect_role(text)  # exact first-/third-person wrongdoing patterns win
    if ruled:
        role, role_p = {v: k for k, v in SESSION_ROLE.items()}[ruled], 1.0
    elif role_p < ROLE_MIN_P:
        role = "unclear"
    facts = {k: m.group(0) for k, p in _FACTS.items() if (m := p.search(text))}
    topics = tuple(k for k, p in _TOPICS.items() if p.search(text))[:3]
    return Reading(intent=intent, intent_p=round(intent_p, 3), role=role,
                   role_p=round(role_p, 3), question=question or intent in ASKING,
                   wants_words=intent == "words" or bool(_WORDS_ASK.search(text)), facts=facts,
                   topics=topics, feelings=tuple(_feelings(text)), words=len(text.split()))
