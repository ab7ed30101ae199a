"""One worker process of test_multiworker.py (not a test).

    TF_CONFIG=... python multiworker_worker.py WEIGHTS.npz [train.py options...]

Trains through `deepdeconv.cli.train.main` exactly as `train.py` would under the TF_CONFIG of
its environment, then saves the weights this worker ended with to WEIGHTS.npz (a test
artefact outside the output folder), so the test can compare the workers.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""


def main():
    import numpy as np

    from deepdeconv import training
    from deepdeconv.cli import train as train_cli
    from deepdeconv.cli.common import run_cli

    weights_path, argv = sys.argv[1], sys.argv[2:]
    built = []
    build_gan = training.build_gan

    def build_and_keep(config):
        built.append(build_gan(config))
        return built[-1]

    training.build_gan = build_and_keep
    status = run_cli(train_cli.main, argv)
    if status == 0:
        gan = built[-1]
        # Keyed like a checkpoint: "<group>/<variable path>".
        weights = {f"{group}/{w.path}": np.asarray(w.numpy())
                   for group, model in (("generator", gan.generator), ("discriminator", gan.discriminator))
                   for w in model.weights}
        np.savez(weights_path, step=np.asarray(gan.step.numpy()), **weights)
    return status


if __name__ == "__main__":
    sys.exit(main())
