"""Old path of the model loader: sequence models saved before the package was split into rooms
(model format 2 and earlier) name `freqai_seq.sequence_model.SequenceModelLoader`."""

from freqai_seq.checkpoints import CheckpointLoader as SequenceModelLoader

__all__ = ["SequenceModelLoader"]
