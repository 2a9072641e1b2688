"""The command line: parses options and prints; the work happens in the layers below
(freqai_seq.runs, freqai_seq.evaluation)."""

from freqai_seq.cli.main import main

__all__ = ["main"]
