"""Seeding and determinism: one seed, one data set, one config -> identical predictions."""

from __future__ import annotations

import logging
import os
import random
from typing import Any

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


def training_threads(params: dict[str, Any], configured: int) -> int:
    """The torch thread count a model sets (0: it leaves torch's): `configured` (the
    `num_threads` key or its default) unless the key is unset and the process was started with
    OMP_NUM_THREADS, which torch then already follows (the walk-forward's workers get
    `--training-threads` that way)."""
    if params.get("num_threads") is None and os.environ.get("OMP_NUM_THREADS"):
        return 0
    return configured


ACCELERATORS = ("mps", "cuda")  # `auto` takes the first one torch sees, as FreqAI does


def accelerator_available(kind: str) -> bool:
    if kind == "mps":
        return torch.backends.mps.is_available()
    return torch.cuda.is_available()


def resolve_device(name: str) -> torch.device:
    from freqai_seq.errors import FreqaiSeqError

    if name == "auto":
        found = next((kind for kind in ACCELERATORS if accelerator_available(kind)), "cpu")
        return torch.device(found)
    if name in ACCELERATORS and not accelerator_available(name):
        what = "Apple GPU (MPS)" if name == "mps" else "CUDA device"
        raise FreqaiSeqError(f"model_training_parameters.device is {name!r} but torch sees no "
                             f"{what}; use 'auto' or 'cpu'.")
    return torch.device(name)


def loading_device(name: str) -> torch.device:
    """Where a saved model goes: as configured, except that a model trained with
    `device: cuda` or `mps` still loads (on the CPU) on a machine without that device."""
    if name in ACCELERATORS and not accelerator_available(name):
        logger.warning("The model was trained with device %r; no such device here, so it runs "
                       "on the CPU.", name)
        return torch.device("cpu")
    return resolve_device(name)
