"""Export a trained model as SavedModel / TFLite; `python export.py --help` for examples."""
import sys

from deepdeconv.cli.common import quiet_tensorflow

quiet_tensorflow()

from deepdeconv.cli.common import run_cli  # noqa: E402
from deepdeconv.cli.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
