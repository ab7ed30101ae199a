"""Train a GAN: `python train.py --help`. All the work happens in the deepdeconv package."""
import sys

from deepdeconv.cli.common import quiet_tensorflow, run_cli

if __name__ == "__main__":
    quiet_tensorflow()
    from deepdeconv.cli.train import main

    sys.exit(run_cli(main))
