"""The key tables of `freqai-seq keys`, generated from the model configs' dataclasses.

One definition, so that the command line and the documentation site (`docs/hooks/`) print the
same table and the docs cannot drift from the dataclasses. (The commands' help text the docs
show comes from freqai_seq.cli.parser.)
"""

from __future__ import annotations

import json

#: the key tables `key_table` knows: `freqai-seq keys`, `keys --hybrid`, `keys --ensemble`
KEY_TABLES = ("sequence", "hybrid", "ensemble")


def key_table(which: str) -> str:
    """The Markdown table (key, default, meaning) of one model family's
    `model_training_parameters`: `sequence` (LSTM, GRU), `hybrid` (the extra keys of the
    CNN+LSTM-attention network) or `ensemble` (the extra keys of the LightGBM ensemble)."""
    from freqai_seq.model.config_schema import (
        HYBRID_KEY_DOCS,
        KEY_DOCS,
        HybridConfig,
        SequenceConfig,
    )
    from freqai_seq.model.ensemble.config import (
        ENSEMBLE_KEY_DOCS,
        LIGHTGBM_DEFAULTS,
        EnsembleConfig,
    )

    if which == "ensemble":
        docs, defaults = ENSEMBLE_KEY_DOCS, {**EnsembleConfig().to_dict(),
                                             "lightgbm": LIGHTGBM_DEFAULTS}
    elif which == "hybrid":
        docs, defaults = HYBRID_KEY_DOCS, HybridConfig().to_dict()
    elif which == "sequence":
        docs, defaults = KEY_DOCS, SequenceConfig().to_dict()
    else:
        raise ValueError(f"no key table {which!r}; one of {', '.join(KEY_TABLES)}")
    rows = [f"| `{key}` | `{json.dumps(defaults[key])}` | {doc} |" for key, doc in docs.items()]
    return "\n".join(["| key | default | meaning |", "| --- | --- | --- |", *rows])
