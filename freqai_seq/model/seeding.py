"""Seeding and determinism: one seed, one data set, one config -> identical predictions."""

from __future__ import annotations

import logging
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool) -> torch.Generator:
    """Seed torch, numpy and random; return a generator for the batch order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def resolve_device(name: str) -> torch.device:
    from freqai_seq.errors import FreqaiSeqError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FreqaiSeqError("model_training_parameters.device is 'cuda' but torch sees no CUDA "
                             "device; use 'auto' or 'cpu'.")
    return torch.device(name)


def loading_device(name: str) -> torch.device:
    """Where a saved model goes: as configured, except that a model trained with
    `device: cuda` still loads (on the CPU) on a machine without a GPU."""
    if name == "cuda" and not torch.cuda.is_available():
        logger.warning("The model was trained with device 'cuda'; no CUDA device here, so it "
                       "runs on the CPU.")
        return torch.device("cpu")
    return resolve_device(name)
