"""What the strategies run inside freqtrade: features, targets, entry/exit and stake
logic."""
