"""EvaluationCallback inside model.fit: metrics.jsonl, TensorBoard, best checkpoint hook, resume."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepdeconv import rundir
from deepdeconv.callbacks.evaluation import EvaluationCallback
from deepdeconv.config import TrainConfig
from deepdeconv.data import ImageSource
from fake_inception import write_fake_inception_graph


pytestmark = pytest.mark.usefixtures("isolated_cache")


class _ToyGAN(keras.Model):
    """The parts of deepdeconv's GAN the callback uses: `step`, `generator`, `sampling_generator`."""

    def __init__(self):
        super().__init__()
        z = keras.Input((4,))
        image = keras.layers.Reshape((32, 32, 1))(keras.layers.Dense(32 * 32, activation="tanh")(z))
        self.generator = keras.Model(z, image)
        self.ema_generator = keras.models.clone_model(self.generator)
        self.step = keras.Variable(0, dtype="int64", trainable=False)

    @property
    def sampling_generator(self):
        return self.ema_generator

    def train_step(self, data):
        # Random walk on the EMA weights: each evaluation sees a different generator.
        for w in self.ema_generator.weights:
            w.assign_add(tf.random.normal(w.shape, stddev=0.3))
        self.step.assign_add(1)
        return {"step": self.step.value}


def _fit(run_dir, graph_path, steps, best_calls, real):
    gan = _ToyGAN()
    gan.compile()
    config = TrainConfig(data="toy-data", resolution=32, batch=2, z_dim=4)
    callback = EvaluationCallback(run_dir, config, real, every_steps=2, metric_names="fid,is", num_gen=24,
                                  on_best=lambda step, value: best_calls.append((step, value)),
                                  inception=graph_path, batch_size=8,
                                  writer=tf.summary.create_file_writer(str(run_dir / rundir.TENSORBOARD)))
    gan.fit(tf.data.Dataset.from_tensors(0).repeat(steps), epochs=1, verbose=0, callbacks=[callback],
            shuffle=False)
    return callback


def test_evaluations_are_logged_and_best_is_reported_on_improvement(tmp_path):
    graph_path = write_fake_inception_graph(tmp_path)[1]
    real = ImageSource.from_arrays("toy", np.random.default_rng(0).integers(0, 256, (40, 32, 32, 1), dtype=np.uint8))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    best_calls = []
    _fit(run_dir, graph_path, 5, best_calls, real)
    records = [json.loads(line) for line in (run_dir / rundir.METRICS).read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 5]  # every 2 steps, and at the end
    assert all(r["event"] == "eval" and r["n_real"] == 40 and r["n_fake"] == 24 for r in records)
    assert records[0]["kimg"] == pytest.approx(0.004)
    running_min, expected = np.inf, []
    for r in records:
        if r["metrics"]["fid"] < running_min:
            running_min = r["metrics"]["fid"]
            expected.append((r["step"], r["metrics"]["fid"]))
    assert best_calls == expected
    assert list((run_dir / rundir.TENSORBOARD).glob("events.out.tfevents.*"))
    # A resumed run starts from the best value already logged.
    resumed = EvaluationCallback(run_dir, TrainConfig(data="toy-data", batch=2, z_dim=4), real, 2, "fid", 8,
                                 inception=graph_path)
    assert resumed.best == running_min
