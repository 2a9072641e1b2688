"""`freqai-seq live-cycle`: time for a live bot to retrain every pair, with FreqAI's single
training thread and with live_training_workers."""

from __future__ import annotations

import argparse
import json
import logging

from freqai_seq.cli.requests import workspace

NAME = "live-cycle"
HELP = ("time for a live bot to retrain every pair, with FreqAI's single training thread and "
        "with live_training_workers (fast-replay dry-runs)")
OPTIONS = ("config", "datadir", "userdir", "pairs", "cycle_workers", "no_cross_pair", "minutes",
           "cycle_warmup_minutes", "cycle_api_port", "page")
BLOCK = "live-cycle"  # on docs/results/scale-out.md

logger = logging.getLogger("freqai_seq")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import live_cycle
    from freqai_seq.evaluation.publish import publish
    from freqai_seq.runs.dryrun import BotFailed

    settings = live_cycle.CycleSettings(
        workers=tuple(args.workers), cross_pair=not args.no_cross_pair, minutes=args.minutes,
        warmup_minutes=args.warmup_minutes, api_port=args.api_port,
        workspace=workspace(args))
    try:
        report = live_cycle.run(settings)
    except BotFailed as err:
        logger.error("%s", err)
        return 1
    settings.folder.mkdir(parents=True, exist_ok=True)
    (settings.folder / "live-cycle.json").write_text(json.dumps(report, indent=2))
    publish(live_cycle.format_report(report), BLOCK, page=args.page)
    return 0
