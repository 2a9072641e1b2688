"""The loader a saved model file names. FreqAI's data drawer unpickles the file's `pytrainer` and
calls its `load_from_checkpoint`; pickle finds that class by module path, so this module stays
where it is whatever else moves, and the model class is chosen by the file's `format` (the
checkpoint itself is plain data). Files saved before the modules moved name the old paths
`freqai_seq.sequence_model` and `freqai_seq.ensemble.model`, which alias this loader.

The model classes register their format here (`loads_format`) rather than this module importing
them: the model layer sits above this one, and FreqAI has imported the model class (through
freqai_seq.freqaimodels) before its drawer opens a file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from freqai_seq.errors import FreqaiSeqError

ModelClass = TypeVar("ModelClass")

#: file format -> the function that rebuilds a model from a checkpoint of that format
_FORMATS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def loads_format(model_class: ModelClass) -> ModelClass:
    """Class decorator: checkpoints whose `format` is the class's are rebuilt by its
    `from_checkpoint`."""
    _FORMATS[model_class.format] = model_class.from_checkpoint  # type: ignore[attr-defined]
    return model_class


class CheckpointLoader:
    """What FreqAI's data drawer finds under "pytrainer": rebuilds the model from the file."""

    def load_from_checkpoint(self, checkpoint: dict[str, Any]) -> Any:
        rebuild = _FORMATS.get(checkpoint.get("format"))  # type: ignore[arg-type]
        if rebuild is not None:
            return rebuild(checkpoint)
        raise FreqaiSeqError(f"Unknown model file format {checkpoint.get('format')!r}: not a "
                             "freqai-seq model, or saved by a newer release.")
