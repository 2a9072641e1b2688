"""`freqai-seq training-plot`: the epochs of every saved training of an identifier, drawn.

Each model file FreqAI saved (`sub-train-<COIN>_<window end>/`, a backtest with
`save_backtest_models`, or a live bot's newest models) carries its network's history: per epoch
the train and validation loss, the learning rate, the gradient norm before clipping and the
validation / train loss ratio. One plotly page draws one panel per quantity and one line per
training, so a trainer that stops early, overfits (the ratio climbs) or diverges (the gradient
norm explodes) shows at a glance; a printed line counts those cases.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq.errors import FreqaiSeqError

PANELS = {"train_loss": "train loss", "val_loss": "validation loss", "lr": "learning rate",
          "grad_norm": "gradient norm (before clipping)",
          "loss_ratio": "validation loss over train loss"}
_FOLDER = re.compile(r"^sub-train-(.+)_(\d+)$")


@dataclass(frozen=True)
class Training:
    coin: str
    window_end: pd.Timestamp
    max_epochs: int
    history: list[dict[str, float]]

    @property
    def name(self) -> str:
        return f"{self.coin} {self.window_end:%Y-%m-%d %H:%M}"


def trainings(models: Path, pairs: tuple[str, ...] = (),
              window: str | None = None) -> list[Training]:
    """The saved trainings of a models folder that hold a history, oldest window first;
    `pairs` (e.g. BTC/USD) and `window` (the window's end, a date) narrow them."""
    from freqai_seq.model.sequence_model import SequenceModel

    if not models.is_dir():
        raise FreqaiSeqError(f"No models folder {models}: check --identifier and --userdir.")
    coins = {p.split("/")[0].upper() for p in pairs}
    try:
        end = pd.Timestamp(window, tz="UTC") if window else None
    except ValueError as exc:
        raise FreqaiSeqError(f"--window {window!r} is not a date.") from exc
    found = []
    for folder in sorted(models.glob("sub-train-*")):
        match = _FOLDER.match(folder.name)
        files = sorted(folder.glob("*_model.zip"))
        if not match or not files:
            continue
        stamp = pd.Timestamp(int(match.group(2)), unit="s", tz="UTC")
        if (coins and match.group(1).upper() not in coins) or (end is not None
                                                                and stamp != end):
            continue
        model = SequenceModel.load(files[0])
        if model.train_result is None or not model.train_result.history:
            continue
        found.append(Training(match.group(1).upper(), stamp, model.cfg.epochs,
                              model.train_result.history))
    if not found:
        named = ", ".join(pairs)
        raise FreqaiSeqError(
            f"No saved training with a history in {models}"
            f"{f' for {named}' if pairs else ''}"
            f"{f' ending {window}' if window else ''}: "
            "backtests save their models with freqai.save_backtest_models true, and only "
            "models saved since training histories are recorded carry one.")
    return sorted(found, key=lambda t: (t.window_end, t.coin))


def summary(found: list[Training]) -> str:
    """How the trainings ended: early stops, best epochs, final loss ratios, divergence."""
    early = sum(len(t.history) < t.max_epochs for t in found)
    diverged = sum(any(not math.isfinite(h["train_loss"]) for h in t.history) for t in found)
    ratios = [t.history[-1]["loss_ratio"] for t in found if "loss_ratio" in t.history[-1]]
    best = [min(t.history, key=lambda h: h.get("val_loss", math.inf))["epoch"] for t in found
            if any("val_loss" in h for h in t.history)]
    parts = [f"{len(found)} trainings", f"{early} stopped early",
             f"{diverged} with a non-finite loss"]
    if best:
        parts.append(f"median best epoch {statistics.median(best):g}")
    if ratios:
        parts.append(f"final validation/train loss ratio median {statistics.median(ratios):.2f} "
                     f"(max {max(ratios):.2f})")
    return ", ".join(parts)


def figure(found: list[Training], title: str) -> Any:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True,
                        subplot_titles=list(PANELS.values()), vertical_spacing=0.04)
    for training in found:
        epochs = [h["epoch"] for h in training.history]
        for row, key in enumerate(PANELS, start=1):
            values = [h.get(key) for h in training.history]
            if all(v is None for v in values):
                continue
            fig.add_scatter(x=epochs, y=values, mode="lines+markers", name=training.name,
                            legendgroup=training.name, showlegend=row == 1, row=row, col=1)
    fig.update_xaxes(title_text="epoch", row=len(PANELS), col=1)
    fig.update_layout(title=title, height=220 * len(PANELS))
    return fig


def write(models: Path, out: Path, pairs: tuple[str, ...] = (),
          window: str | None = None) -> tuple[Path, str]:
    """Draw the trainings of `models` into `out` (HTML); returns it and the summary."""
    found = trainings(models, pairs, window)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = summary(found)
    # plotly.js inside the page: it opens offline, like freqtrade's own plots
    figure(found, f"Trainings of {models.name}: {text}").write_html(out, include_plotlyjs=True)
    return out, text
