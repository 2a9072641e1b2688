"""`freqai-seq`'s entry: parse, set up logging, run the command, and map failures to exit
statuses (bad input 2, interrupted 130). The commands live in freqai_seq.cli.commands, their
options in freqai_seq.cli.options."""

from __future__ import annotations

import logging
import sys

from freqai_seq.cli.parser import build_parser
from freqai_seq.compat import check_versions
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.processes import unwind_on_sigterm
from freqai_seq.redaction import masked

logger = logging.getLogger("freqai_seq")


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
