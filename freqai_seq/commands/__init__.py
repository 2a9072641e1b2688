"""What starts freqtrade: the `freqai-seq` command line, the run config, the runner and
the freqtrade output it reads."""
