"""`freqai-seq soak`: the fast-replay dry-run for hours, sampling the bot's resources."""

from __future__ import annotations

import argparse
import json
import logging

from freqai_seq.cli.requests import workspace

NAME = "soak"
HELP = ("run the fast-replay dry-run for hours, sampling the bot's memory, open files, threads "
        "and FreqAI's stores; slopes per 100 retrainings with CIs")
OPTIONS = ("config", "datadir", "userdir", "pairs", "hours", "sample_s",
           "soak_warmup_minutes", "retrain_minutes", "model", "strategy", "training_params",
           "soak_api_port", "soak_out", "from_samples", "page")
BLOCK = "soak"  # on docs/results/soak.md

logger = logging.getLogger("freqai_seq")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import soak
    from freqai_seq.evaluation.publish import publish
    from freqai_seq.runs.dryrun import BotFailed

    defaults = soak.SoakSettings(workspace=workspace(args))
    out = args.out or defaults.userdir / "results"
    if args.from_samples:
        settings, samples = soak.read_soak(args.from_samples)
        if args.warmup_minutes is not None:
            settings["warmup_minutes"] = args.warmup_minutes
        report = soak.analyse(samples, settings)
        out = args.from_samples
    else:
        soak_settings = soak.SoakSettings(
            hours=args.hours, sample_s=args.sample_s,
            warmup_minutes=(defaults.warmup_minutes if args.warmup_minutes is None
                            else args.warmup_minutes),
            retrain_minutes=args.retrain_minutes, model=args.model, strategy=args.strategy,
            training_params=args.training_params, api_port=args.api_port,
            workspace=defaults.workspace)
        try:
            report = soak.run(soak_settings, out)
        except (soak.SoakFailed, BotFailed) as err:
            logger.error("%s", err)
            return 1
    (out / "report.json").write_text(json.dumps(report, indent=2))
    publish(soak.format_report(report), BLOCK, out / "report.md", args.page)
    print(f"\nSamples and report in {out}")
    return 0
