"""Which output of a network serves which task, read from FreqAI's `&` label names.

FreqAI scales every `&` column as a regression target, so the tasks are encoded in the names:

- `&-ret_<h>` (and any other name): regression, weight `loss_weight_return`;
- `&-vol_<h>`: realized future volatility, regression, weight `loss_weight_volatility`;
- `&-logvar_<h>`: log of the realized future variance, the same task under the log-variance
  loss (freqai_seq.model.volatility_forecast turns it into a variance forecast);
- `&-regime_<h>_down`, `_flat`, `_up`: one-hot regime, all three required; the network's three
  outputs are logits trained with cross-entropy (weight `loss_weight_regime`) and predicted as
  class probabilities, written in original units (the label scaler is bypassed for them);
- `&-unc_<name>`: not trained; filled with the MC-dropout spread of `&-<name>` (0 when
  `mc_dropout_passes` is 0). The strategy declares it as a constant-0 target.
- `&-agree_<name>`: not trained; an ensemble fills it with 1 where its bases agree on the sign
  of `&-<name>` and 0 where they do not. Declared as a constant-0 target too.
- `&-q<NN>_<name>` (NN = 1..99): the NN-th percentile of the target `<name>` (the column holds
  that target, e.g. `&-q10_ret_12` the 12-candle return), trained with the pinball loss at
  tau = NN/100 (weight `loss_weight_quantile`). The quantiles of one target come from a monotone
  parametrisation of the network's outputs, so they never cross; a pair of levels tau and 1 -
  tau is an interval of nominal coverage 1 - 2 tau, conformally calibrated
  (freqai_seq.model.intervals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.labels import AGREEMENT, QUANTILE, REGIME, UNCERTAINTY, VOLATILITY

REGIMES = ("down", "flat", "up")


@dataclass(frozen=True)
class QuantileGroup:
    """The quantile labels of one target, in increasing level."""

    target: str  # e.g. "ret_12"
    levels: tuple[float, ...]
    idx: tuple[int, ...]

    def intervals(self) -> list[tuple[int, int, float]]:
        """(lower column, upper column, nominal coverage) of each pair of levels tau, 1 - tau."""
        by_level = dict(zip(self.levels, self.idx, strict=True))
        return [(by_level[lo], by_level[round(1 - lo, 2)], round(1 - 2 * lo, 2))
                for lo in self.levels if lo < 0.5 and round(1 - lo, 2) in by_level]


@dataclass(frozen=True)
class TaskLayout:
    return_idx: list[int] = field(default_factory=list)
    volatility_idx: list[int] = field(default_factory=list)
    regime_groups: list[tuple[int, int, int]] = field(default_factory=list)  # down, flat, up
    uncertainty_of: dict[int, int] = field(default_factory=dict)  # unc column -> source column
    agreement_of: dict[int, int] = field(default_factory=dict)  # agree column -> source column
    quantile_groups: list[QuantileGroup] = field(default_factory=list)

    @property
    def quantile_idx(self) -> list[int]:
        return [i for group in self.quantile_groups for i in group.idx]

    @property
    def regime_idx(self) -> list[int]:
        return [i for group in self.regime_groups for i in group]


def parse_labels(labels: list[str]) -> TaskLayout:
    position = {name: i for i, name in enumerate(labels)}
    layout = TaskLayout()
    regimes: dict[str, dict[str, int]] = {}
    quantiles: dict[str, dict[float, int]] = {}
    for i, name in enumerate(labels):
        if match := QUANTILE.match(name):
            level, target = int(match.group(1)), match.group(2)
            if not 1 <= level <= 99:
                raise FreqaiSeqError(f"Label {name}: the quantile level must be 1 to 99.")
            if level / 100 in quantiles.setdefault(target, {}):
                raise FreqaiSeqError(f"Label {name}: level {level} of {target} is declared "
                                     "twice.")
            quantiles[target][level / 100] = i
        elif match := REGIME.match(name):
            horizon, regime = match.groups()
            if regime not in REGIMES:
                raise FreqaiSeqError(f"Label {name}: regime must be one of {REGIMES}.")
            regimes.setdefault(horizon, {})[regime] = i
        elif (match := UNCERTAINTY.match(name)) or (match := AGREEMENT.match(name)):
            source = f"&-{match.group(1)}"
            if source not in position or UNCERTAINTY.match(source) or AGREEMENT.match(source):
                raise FreqaiSeqError(f"Label {name} describes {source}, which is not a trained "
                                     "label of this model.")
            target = layout.uncertainty_of if UNCERTAINTY.match(name) else layout.agreement_of
            target[i] = position[source]
        elif VOLATILITY.match(name):
            layout.volatility_idx.append(i)
        else:
            layout.return_idx.append(i)
    for horizon, group in sorted(regimes.items()):
        missing = [r for r in REGIMES if r not in group]
        if missing:
            raise FreqaiSeqError(f"Regime labels of horizon {horizon} lack {missing}: declare "
                                 f"&-regime_{horizon}_down, _flat and _up together.")
        layout.regime_groups.append(tuple(group[r] for r in REGIMES))
    for target, by_level in sorted(quantiles.items()):
        levels = tuple(sorted(by_level))
        layout.quantile_groups.append(
            QuantileGroup(target, levels, tuple(by_level[q] for q in levels)))
    return layout
