"""Restore images with a trained deepdeconv restorer; `python restore.py --help` for examples."""
import sys

from deepdeconv.cli.common import quiet_tensorflow

quiet_tensorflow()

from deepdeconv.cli.common import run_cli  # noqa: E402
from deepdeconv.cli.restore import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
