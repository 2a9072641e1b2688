"""`freqai-seq validate`: multi-horizon forecast metrics and model analysis of a FreqAI run."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freqai_seq.evaluation.validation.validate import ValidateOptions

NAME = "validate"
HELP = ("multi-horizon forecast metrics and model analysis of a FreqAI run, from its exported "
        "files")
OPTIONS = ("models", "datadir", "run_config", "run_strategy", "run_pairs", "horizons",
           "bootstrap", "seed", "no_models", "validate_out")

logger = logging.getLogger("freqai_seq")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation.validation.validate import ValidateOptions

    out = args.out or args.models.parent.parent / "validation" / args.models.name
    return run_validation(ValidateOptions(
        models=args.models, out=out, datadir=args.datadir, configs=tuple(args.config or ()),
        strategy=args.strategy, pairs=tuple(args.pairs or ()), horizons=tuple(args.horizons),
        resamples=args.bootstrap, seed=args.seed, analyse_models=not args.no_models))


def run_validation(options: ValidateOptions) -> int:
    """Validate, print the summary; exit 1 when the report lists problems."""
    from freqai_seq.evaluation.validation.report import write_outputs
    from freqai_seq.evaluation.validation.validate import validate

    result = validate(options)
    _, summary = write_outputs(result)
    print(summary)
    if result.problems:
        logger.error("Validation incomplete: %d problem(s), listed above and in the report.",
                     len(result.problems))
        return 1
    return 0
