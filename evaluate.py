"""Measure a generator (FID, IS, KID, precision/recall, classifier metrics): `python evaluate.py --help`."""
import sys

from deepdeconv.cli.common import quiet_tensorflow, run_cli

if __name__ == "__main__":
    quiet_tensorflow()
    from deepdeconv.cli.evaluate import main

    sys.exit(run_cli(main))
