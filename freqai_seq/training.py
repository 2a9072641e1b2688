"""The training loop every network shares: AdamW, clipping, warmup + cosine (or plateau),
early stopping that restores the best weights, sample weights, CUDA mixed precision."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from freqai_seq.config_schema import SequenceConfig
from freqai_seq.windowing import gather_windows

logger = logging.getLogger(__name__)


class ScalarLogger(Protocol):
    def log_scalar(self, tag: str, scalar_value: Any, step: int) -> None: ...


@dataclass
class WindowedSet:
    """Features of contiguous rows plus the rows whose windows are used, their targets, weights."""

    features: torch.Tensor  # (n_rows, n_features), on the training device
    ends: torch.Tensor  # (m,) row indices, int64
    targets: torch.Tensor  # (m, n_outputs)
    weights: torch.Tensor  # (m,)

    def __len__(self) -> int:
        return len(self.ends)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float | None
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def _weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    per_row = ((pred.float() - target) ** 2).mean(dim=1)
    return (per_row * weight).sum() / weight.sum()


def evaluate(net: nn.Module, data: WindowedSet, window: int, batch_size: int) -> float:
    net.eval()
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            ends = data.ends[start:start + batch_size]
            pred = net(gather_windows(data.features, ends, window))
            w = data.weights[start:start + batch_size]
            total += float(_weighted_mse(pred, data.targets[start:start + batch_size], w)
                           * w.sum())
            weight += float(w.sum())
    return total / weight


def make_optimizer(net: nn.Module, cfg: SequenceConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with the fused kernel where torch has one (about 20 % faster per step on CPU)."""
    return torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate,
                             weight_decay=cfg.weight_decay,
                             fused=device.type in ("cpu", "cuda"))


def _scheduler(optimizer: torch.optim.Optimizer, cfg: SequenceConfig, total_steps: int):
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                          patience=cfg.plateau_patience)
    warmup = max(1, int(total_steps * cfg.warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_network(net: nn.Module, train: WindowedSet, val: WindowedSet | None,
                  cfg: SequenceConfig, device: torch.device, generator: torch.Generator,
                  tb_logger: ScalarLogger | None = None, label: str = "") -> TrainResult:
    """Train in place; on return `net` holds the weights of the best validation epoch."""
    optimizer = make_optimizer(net, cfg, device)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    scheduler = _scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
    use_amp = cfg.mixed_precision and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    best_state: dict[str, torch.Tensor] | None = None
    best_loss, best_epoch, stale = math.inf, 0, 0
    result = TrainResult(best_epoch=0, best_val_loss=None, epochs_run=0)
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        running, seen = 0.0, 0.0
        for start in range(0, len(train), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            x = gather_windows(train.features, train.ends[idx], cfg.window)
            y, w = train.targets[idx], train.weights[idx]
            with torch.autocast(device_type=device.type, enabled=use_amp):
                pred = net(x)
            loss = _weighted_mse(pred, y, w)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip, foreach=True)
            scaler.step(optimizer)
            scaler.update()
            if cfg.scheduler == "cosine":
                scheduler.step()
            running += float(loss.detach()) * float(w.sum())
            seen += float(w.sum())
            step += 1
        train_loss = running / seen
        lr = optimizer.param_groups[0]["lr"]
        val_loss = evaluate(net, val, cfg.window, cfg.inference_batch_size) if val else None
        if cfg.scheduler == "plateau" and val_loss is not None:
            scheduler.step(val_loss)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "lr": lr,
                               **({"val_loss": val_loss} if val_loss is not None else {})})
        result.epochs_run = epoch
        if tb_logger is not None:
            tb_logger.log_scalar("train_loss", train_loss, epoch)
            tb_logger.log_scalar("learning_rate", lr, epoch)
            if val_loss is not None:
                tb_logger.log_scalar("validation_loss", val_loss, epoch)
        val_text = f"{val_loss:.6f}" if val_loss is not None else "n/a"
        logger.info("%sepoch %d/%d train_loss %.6f val_loss %s lr %.2e", label, epoch,
                    cfg.epochs, train_loss, val_text, lr)
        if val_loss is None:
            continue
        if val_loss < best_loss - cfg.min_delta:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if cfg.early_stopping_patience and stale >= cfg.early_stopping_patience:
                logger.info("%searly stop after epoch %d: no improvement for %d epochs", label,
                            epoch, stale)
                break
    if best_state is not None:
        net.load_state_dict(best_state)
        result.best_epoch, result.best_val_loss = best_epoch, best_loss
        logger.info("%srestored the weights of epoch %d (val_loss %.6f)", label, best_epoch,
                    best_loss)
    else:
        result.best_epoch = result.epochs_run
    return result
