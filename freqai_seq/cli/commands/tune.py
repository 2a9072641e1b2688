"""`freqai-seq tune`: Optuna search of a sequence model's hyperparameters, scored walk-forward."""

from __future__ import annotations

import argparse
import json

from freqai_seq.cli.requests import results_folder, workspace

NAME = "tune"
HELP = ("Optuna search of a sequence model's network and training hyperparameters, scored "
        "walk-forward (out-of-sample Spearman IC)")
EPILOG = ("Several workers (processes or machines) share one study by running with the same "
          "--study and --storage; each runs --n-trials trials. --training-params is the base "
          "every trial starts from.")
OPTIONS = ("study", "storage", "model", "strategy", "config", "datadir", "userdir", "tune_pairs",
           "training_params", "space", "print_space", "windows", "end", "train_days",
           "predict_days", "tune_train_epochs", "n_trials", "timeout", "tune_seed", "metric",
           "no_prune", "prune_startup_trials", "prune_warmup_windows", "tune_threads",
           "tune_out")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation.tune import study
    from freqai_seq.evaluation.tune.settings import TuneSettings

    out = results_folder(args, "tune")
    settings = TuneSettings(
        study=args.study, storage=args.storage, model=args.model, strategy=args.strategy,
        training_params=args.training_params, space=args.space, windows=args.windows,
        end=args.end, train_days=args.train_days,
        predict_days=args.predict_days, epochs=args.train_epochs or None,
        n_trials=args.n_trials, timeout=args.timeout, seed=args.seed, metric=args.metric,
        prune=not args.no_prune, prune_startup_trials=args.prune_startup_trials,
        prune_warmup_windows=args.prune_warmup_windows, threads=args.threads,
        out_dir=out, workspace=workspace(args))
    if args.print_space:
        print(json.dumps(study.print_space(settings, verbose=bool(args.verbose)), indent=2))
        return 0
    print(study.format_report(study.run(settings, verbose=bool(args.verbose))))
    return 0
