"""Errors that carry a plain-words message meant for the person using the coach."""


class CoachError(Exception):
    """A problem we can explain in one line; the CLI prints it and exits non-zero."""


class KnowledgeError(CoachError):
    """A guidance card or user file could not be read or failed validation."""


class IndexUnavailable(CoachError):
    """The vector index (embedded Chroma or a Chroma server) cannot be reached or used."""


class InputError(CoachError):
    """A query or message that cannot be processed as given (empty, too large...)."""
