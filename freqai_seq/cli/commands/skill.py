"""`freqai-seq skill`: walk-forward skill of per-pair and cross-pair models, with
paired-bootstrap CIs against LightGBM."""

from __future__ import annotations

import argparse

from freqai_seq.cli.requests import results_folder, workspace

NAME = "skill"
HELP = ("walk-forward skill of per-pair and cross-pair models on the selection or the reported "
        "period, with paired-bootstrap CIs against LightGBM")
EPILOG = ("Arms are <model>-<pair|cross>-<1h|30m>-<days>d[-<volatility>][-<training>]; models: "
          "lstm, gru, hybrid, ensemble, lightgbm, mlp; training options (sequence models): "
          "curriculum, expanding. A finished arm is reused; delete its folder under --out to "
          "rerun it.")
OPTIONS = ("config", "datadir", "userdir", "pairs", "period", "period_timerange", "skill_arms",
           "baseline", "bootstrap", "seed", "skill_out", "page")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import skill
    from freqai_seq.evaluation.publish import publish
    from freqai_seq.evaluation.skill_settings import DEFAULT_ARMS, parse_arm

    out = results_folder(args, "skill")
    arms = [parse_arm(name) for name in args.arms or DEFAULT_ARMS[args.period]]
    report = skill.run(arms, args.period, out, args.bootstrap, args.seed, args.baseline,
                       workspace=workspace(args), timerange=args.timerange)
    publish(skill.format_report(report), f"skill:{args.period}",
            out / f"skill-{args.period}.md", args.page)
    return 0
