"""Every line of freqtrade's and FreqAI's output the commands read, in one place: when a
freqtrade release rewords one, this is the file to change."""

from __future__ import annotations

import re

# FreqAI, after each training; the group is its duration in seconds
DONE_TRAINING = re.compile(r"Done training \S+ \((\d+(?:\.\d+)?) secs\)")
# the same line with its log time (local time, freqtrade's default format) and pair
DONE_TRAINING_AT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - .*Done training "
                              r"(\S+) \((\d+(?:\.\d+)?) secs\)", re.M)
# FreqAI logs a failed training and carries on with the next one
FAILED_TRAINING = re.compile(r"Training \S+ raised exception")
# freqtrade's main() logs a ConfigurationError and then exits 0
REJECTED_CONFIG = re.compile(r" - freqtrade - ERROR - Configuration error: ")
# freqtrade's argument parser (an unknown option): its main() exits 0 after it too
REJECTED_ARGUMENTS = re.compile(r"^freqtrade(?: [\w-]+)?: error: ", re.M)
# freqtrade backtesting's closing line: the first candle it traded on
BACKTESTED_FROM = re.compile(r"^Backtested (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) -> ", re.M)
# freqtrade hyperopt: FreqAI has trained, the epochs begin
HYPEROPT_EPOCHS_START = re.compile(r"Hyperopting with data from")
# freqtrade hyperopt: where the epochs were saved
HYPEROPT_RESULTS_FILE = re.compile(r"epochs? saved to '([^']+\.fthypt)'")
