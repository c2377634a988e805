"""Trust Coach: a private, offline-first coach for working through trust issues."""

__version__ = "0.1.0"
__all__ = ["__version__"]
