"""The loader a saved model file names. FreqAI's data drawer unpickles the file's `pytrainer` and
calls its `load_from_checkpoint`; pickle finds that class by module path, so this module stays
where it is whatever else moves, and the model class is chosen by the file's `format` (the
checkpoint itself is plain data). Files saved before the modules moved name the old paths
`freqai_seq.sequence_model` and `freqai_seq.ensemble.model`, which alias this loader."""

from __future__ import annotations

from typing import Any

from freqai_seq.errors import FreqaiSeqError


class CheckpointLoader:
    """What FreqAI's data drawer finds under "pytrainer": rebuilds the model from the file."""

    def load_from_checkpoint(self, checkpoint: dict[str, Any]) -> Any:
        from freqai_seq.model.ensemble.model import EnsembleModel
        from freqai_seq.model.sequence_model import SequenceModel

        for model_class in (SequenceModel, EnsembleModel):
            if checkpoint.get("format") == model_class.format:
                return model_class.from_checkpoint(checkpoint)
        raise FreqaiSeqError(f"Unknown model file format {checkpoint.get('format')!r}: not a "
                             "freqai-seq model, or saved by a newer release.")
