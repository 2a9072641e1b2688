"""`freqai-seq dryrun start|stop|status`: `freqtrade trade --dry-run` with FreqAI against the
replay market."""

from __future__ import annotations

import argparse
import logging

from freqai_seq import paths

NAME = "dryrun"
HELP = "`freqtrade trade --dry-run` with FreqAI against the replay market"
#: action: (help, options)
ACTIONS = {
    "start": ("start the replay market and the bot",
              ("model", "strategy", "dryrun_replay_start", "pairs", "training_params", "config",
               "fast", "live_retrain_hours", "api_port", "datadir", "logfile", "userdir")),
    "stop": ("stop the bot and the market it started", ("userdir",)),
    "status": ("the bot's newest predictions (exit 1 when it does not run)", ("userdir",)),
}

logger = logging.getLogger("freqai_seq")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.runs import dryrun

    folder = args.userdir / "dryrun"
    if args.action == "start":
        request = dryrun.DryRunRequest(
            model=args.model, strategy=args.strategy, replay_start_ms=args.replay_start,
            pairs=tuple(args.pairs or ()), configs=tuple(args.config or [paths.CONFIG]),
            training_params=args.training_params, datadir=args.datadir, userdir=args.userdir,
            api_port=args.api_port, fast=args.fast, logfile=args.logfile,
            retrain_hours=args.live_retrain_hours)
        try:
            state = dryrun.start(request)
        except dryrun.BotFailed as err:
            logger.error("%s", err)
            return 1
        print(f"Dry-run bot started (pid {state.pid}, FreqAI identifier {request.identifier}): "
              f"REST API {state.api_url}, credentials in {folder / 'dryrun.local.json'}, log "
              f"{state.log_file}. `freqai-seq dryrun status` shows its newest predictions.")
        return 0
    if args.action == "stop":
        print("Stopped the dry-run bot and its market." if dryrun.stop(folder)
              else "No dry-run bot was running.")
        return 0
    stale = dryrun.clear_stale(folder)
    state = dryrun.bot_state(folder)
    if state is None:
        print("Dry-run bot: not running" if stale is None else
              f"Dry-run bot: not running; it (pid {stale.pid}) died without `freqai-seq dryrun "
              f"stop` (killed or crashed): see its log {stale.log_file}")
        return 1
    print(f"Dry-run bot running (pid {state.pid}, {state.api_url}); newest analysed candles:")
    for prediction in dryrun.latest_predictions(folder):
        print("  " + prediction.describe())
    return 0
