"""`python -m freqai_seq.cli`: the command line, as the `freqai-seq` console script."""

import sys

from freqai_seq.cli.main import main

sys.exit(main())
