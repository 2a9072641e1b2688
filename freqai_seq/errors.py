"""Errors a user can act on; the CLI prints their message and exits non-zero."""


class FreqaiSeqError(Exception):
    """A problem with input, data or environment, explained in one sentence for the user."""
