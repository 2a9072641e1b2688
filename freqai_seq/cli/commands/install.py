"""`freqai-seq install`: the loader files through which freqtrade finds the plugin's classes."""

from __future__ import annotations

import argparse
from pathlib import Path

from freqai_seq import defaults

NAME = "install"
HELP = ("write the loader files through which freqtrade finds the plugin's FreqAI models and "
        "strategies into a user-data folder (and, with --config, an example config)")
OPTIONS = ("userdir", "example_config", "replace")


def run(args: argparse.Namespace) -> int:
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
          f"--strategy {defaults.STRATEGY} --freqaimodel {defaults.MODEL} "
          "--timerange 20190801-20190808")
    return 0
