"""One turn, as a pipeline: read → route → respond → check → store.

- `types`: what a turn produces (`TurnResult`, `Delta`) and the `Draft` a handler writes into;
- `context`: the `TurnContext` every step reads (session, state, reading, screenings, region);
- `guidance`: the card index as the handlers use it (retried after a fault, filtered by role);
- `routes`: the ordered handlers, one small module each under `handlers/`, and `route(ctx)`;
- `pipeline`: the steps themselves, which `coach.engine.Coach` runs for every message.
"""

from .types import (
    MAX_MESSAGE_CHARS,
    Delta,
    Draft,
    TurnResult,
    add_notice,
    has_question,
    join_parts,
    pick,
    resource_dict,
    source_of,
    strip_questions,
    title_from,
    validate_message,
)

__all__ = [
    "MAX_MESSAGE_CHARS", "Delta", "Draft", "TurnResult", "add_notice", "has_question",
    "join_parts", "pick", "resource_dict", "source_of", "strip_questions", "title_from",
    "validate_message",
]
