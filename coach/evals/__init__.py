"""Offline evaluation suites (retrieval, screening, conversations, red team)."""
