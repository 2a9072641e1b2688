"""Models saved by earlier releases keep loading: the committed checkpoint (made by
tests/fixtures/make_checkpoint.py) loads the way FreqAI loads a model and predicts what it
predicted when it was saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tests.fixtures.make_checkpoint import fixed_input

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_every_committed_checkpoint_loads_like_freqai_and_predicts_as_saved() -> None:
    files = sorted(FIXTURES.glob("*_model.zip"))
    assert files
    for path in files:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        model = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)  # as FreqAI's drawer
        expected = json.loads(path.with_name(
            path.name.replace("_model.zip", ".expected.json")).read_text())
        x, dates = fixed_input()
        outputs, _, predicted = model.predict_rows(x, dates, np.ones(len(x), bool))
        assert np.flatnonzero(predicted).tolist() == expected["rows"], path.name
        np.testing.assert_allclose(outputs[predicted], expected["outputs"], atol=1e-6)


def test_models_name_a_loader_that_never_moves_and_the_old_paths_still_resolve(
        tmp_path: Path) -> None:
    from freqai_seq.checkpoints import CheckpointLoader
    from freqai_seq.ensemble.model import EnsembleModelLoader
    from freqai_seq.sequence_model import SequenceModelLoader

    assert SequenceModelLoader is CheckpointLoader and EnsembleModelLoader is CheckpointLoader
    source = sorted(FIXTURES.glob("*_model.zip"))[0]
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    model = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)
    model.save(tmp_path / "resaved_model.zip")
    resaved = torch.load(tmp_path / "resaved_model.zip", map_location="cpu", weights_only=False)
    assert type(resaved["pytrainer"]) is CheckpointLoader
    assert type(resaved["pytrainer"]).__module__ == "freqai_seq.checkpoints"
