"""The command line: parses options and prints; the work happens in the layers below
(freqai_seq.runs, freqai_seq.evaluation). `main` is the console entry point; `python -m
freqai_seq.cli` runs it too."""

from freqai_seq.cli.main import main

__all__ = ["main"]
