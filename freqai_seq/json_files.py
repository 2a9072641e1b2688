"""Reading the small JSON files users hand to commands, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path`; `what` names the file in errors (e.g. "--training-params")."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FreqaiSeqError(f"Cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise FreqaiSeqError(f"{what} {path} must hold a JSON object.")
    return data
