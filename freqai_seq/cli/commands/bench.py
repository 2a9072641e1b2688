"""`freqai-seq bench`: walk-forward benchmark of the sequence models against FreqAI's own."""

from __future__ import annotations

import argparse

from freqai_seq.cli.requests import results_folder, workspace

NAME = "bench"
HELP = "walk-forward benchmark of the sequence models against FreqAI's built-in models"
OPTIONS = ("config", "datadir", "userdir", "bench_pairs", "timerange", "bench_train_epochs",
           "batch_size", "network_window", "bench_models", "bench_out", "page", "workers",
           "cluster", "training_threads")
BLOCK = "bench"  # on docs/results/benchmark.md


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import bench
    from freqai_seq.evaluation.bench_settings import BenchSettings
    from freqai_seq.evaluation.publish import publish

    out = results_folder(args, "bench")
    settings = BenchSettings(timerange=args.timerange, epochs=args.train_epochs,
                             batch_size=args.batch_size, window=args.window,
                             models=tuple(args.models), out_dir=out,
                             workspace=workspace(args), workers=args.workers,
                             cluster=args.cluster, training_threads=args.training_threads)
    publish(bench.format_report(bench.run(settings)), BLOCK, out / "bench.md", args.page)
    print(f"\nWritten to {out / 'bench.json'} and {out / 'bench.md'}")
    return 0
