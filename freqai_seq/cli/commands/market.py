"""`freqai-seq market start|serve|stop|status|overlay`: the offline Binance-compatible market."""

from __future__ import annotations

import argparse
import json
import sys

from freqai_seq.errors import FreqaiSeqError

NAME = "market"
HELP = "offline Binance-compatible market on 127.0.0.1"
SERVER = ("datadir", "host", "port", "state_file", "data_format", "replay_start",
          "replay_since", "allow_remote")
#: action: (help, options)
ACTIONS = {
    "start": ("start a background server", (*SERVER, "market_log")),
    "serve": ("serve in the foreground", (*SERVER, "owner_pid", "owner_create_time")),
    "stop": ("stop the background server", ("state_file",)),
    "status": ("show whether it runs (exit 1 when not)", ("state_file",)),
    "overlay": ("print the config overlay pointing ccxt at a host and port", ("host", "port")),
}


def run(args: argparse.Namespace) -> int:
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
    from freqai_seq.market.overlay import offline_overlay

    print(json.dumps(offline_overlay(args.host, args.port), indent=2))
    if not process.ping(args.host, args.port):  # freqtrade would stop at "load markets"
        print(f"No offline market answers on {args.host}:{args.port} yet: start it with "
              f"`freqai-seq market start --port {args.port}` before freqtrade uses this "
              "overlay.", file=sys.stderr)
    return 0
