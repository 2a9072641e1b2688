"""Old path of the model loader: ensembles saved before the package was split into rooms (ensemble
format 1) name `freqai_seq.ensemble.model.EnsembleModelLoader`."""

from freqai_seq.checkpoints import CheckpointLoader as EnsembleModelLoader

__all__ = ["EnsembleModelLoader"]
