"""`freqai-seq intervals`: calibrated intervals, volatility forecasts and after-fee returns of
the interval strategy's model against baselines."""

from __future__ import annotations

import argparse

from freqai_seq import defaults
from freqai_seq.cli.requests import results_folder, workspace

NAME = "intervals"
HELP = (f"calibrated intervals, volatility forecasts and after-fee returns of "
        f"{defaults.INTERVAL_STRATEGY}'s model against baselines, on the skill periods")
EPILOG = ("Arms as for skill. A finished backtest is reused; delete its folder under --out to "
          "rerun it.")
OPTIONS = ("config", "datadir", "userdir", "pairs", "period", "period_timerange",
           "intervals_arms", "bootstrap", "seed", "skill_out", "page")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import forecast_skill
    from freqai_seq.evaluation.publish import publish
    from freqai_seq.evaluation.skill_settings import parse_arm

    out = results_folder(args, "skill")
    names = args.arms or (forecast_skill.SELECTION_ARMS if args.period == "selection"
                          else forecast_skill.REPORT_ARMS)
    report = forecast_skill.run([parse_arm(n) for n in names], args.period, out,
                                args.bootstrap, args.seed, workspace=workspace(args),
                                timerange=args.timerange)
    publish(forecast_skill.format_report(report), f"intervals:{args.period}",
            out / f"intervals-{args.period}.md", args.page)
    return 0
