"""Everything that starts freqtrade or a bot: the runner, run configs, freqtrade's log, loader
files, lookahead, hyperopt, plot, dry-run and the walk-forward."""
