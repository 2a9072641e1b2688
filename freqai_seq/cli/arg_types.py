"""Value checks of the options (argparse `type=`): a bad value is a one-line usage error, exit 2,
before anything starts."""

from __future__ import annotations

import argparse
import math


def time_ms(text: str) -> int:
    """A UTC time (ISO date / datetime, or epoch milliseconds) in milliseconds."""
    import pandas as pd

    if text.isdigit():
        return int(text)
    try:
        return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from exc


def tcp_port(text: str, lowest: int = 1) -> int:
    """A port a server can listen on (1..65535), checked here so a bad one is a one-line usage
    error instead of a failure in the server's bind."""
    if not text.isdigit() or not lowest <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port ({lowest}..65535): {text!r}")
    return int(text)


def port_or_free(text: str) -> int:
    """A TCP port, or 0: a free one."""
    return tcp_port(text, lowest=0)


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def positive_float(text: str) -> float:
    if not (value := number(text)) > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    if (value := number(text)) < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value
