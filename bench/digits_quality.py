"""Quality of the default training run within the CPU budget, measured by classifier-FID.

Trains with the default TrainConfig (plus any `--data`/`--kimg` override), then measures the
EMA generator with the offline classifier metrics against the training data, next to the
same metric between two disjoint halves of the real data (the floor) and the class histogram
of the samples (mode coverage). Prints one line.

    python bench/digits_quality.py                          # the default job: digits
    python bench/digits_quality.py --data ~/mnist_4k_pngs   # a folder of 28x28 digits
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--kimg", type=float, default=None, help="override the default duration")
    parser.add_argument("--num-gen", type=int, default=2000)
    parser.add_argument("--outdir", default=None, help="where the run goes (default: a temporary folder)")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default=None,
                        help="override the default precision (auto: bfloat16 where the CPU has it)")
    args = parser.parse_args()

    from deepdeconv.sampling.load import load_generator
    from deepdeconv.config import TrainConfig
    from deepdeconv.data import load_source, real_uint8_batches
    from deepdeconv.metrics.evaluator import evaluate
    from deepdeconv.metrics.sources import generator_stream
    from deepdeconv.training import train
    import numpy as np

    outdir = args.outdir or tempfile.mkdtemp(prefix="deepdeconv-quality-")
    changes = {"data": args.data, "outdir": outdir}
    if args.kimg:
        changes["kimg"] = args.kimg
    if args.mixed_precision:
        changes["mixed_precision"] = {"auto": None, "on": True, "off": False}[args.mixed_precision]
    config = TrainConfig(**changes).validate()
    start = time.perf_counter()
    run_dir = train(config, progress=sys.stderr.isatty())
    minutes = (time.perf_counter() - start) / 60

    source = load_source(config.data, config.resolution, config.channels)
    real = np.concatenate(list(real_uint8_batches(source, 500)))
    half = len(real) // 2
    floor = evaluate(real[:half], real[half:2 * half], "cfid", classifier_data=config.data, progress=False)
    generator, _ = load_generator(run_dir)
    # Classifier-IS and the class histogram need labels; an unlabelled folder gets cFID only.
    metrics = "cfid,cis" if source.class_names else "cfid"
    result = evaluate(generator_stream(generator, args.num_gen), real, metrics, classifier_data=config.data,
                      progress=False)
    values = result["metrics"]
    print(f"default run on {args.data} (mixed precision {config.mixed_precision}): {minutes:.1f} min, {config.total_steps} steps; "
          f"classifier-FID {values['cfid']:.2f} vs real-vs-real {floor['metrics']['cfid']:.2f}; "
          f"classifier-IS {values.get('cis', float('nan')):.2f}; classes {json.dumps(values.get('class_histogram'))}; run {run_dir}")


if __name__ == "__main__":
    main()
