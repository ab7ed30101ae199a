"""train(config): wires data, models, the training step and callbacks together, then calls fit.

One entry for every task: the GAN, or a restoration task (whole images and degraded patches
from `data.fullsize` and `data.patches`, the `restorer` model, the `Validation` callback); the run
directory, logging, checkpoints, resume and mirroring are shared.
"""
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepdeconv import autotune, remote, rundir
from deepdeconv.callbacks import (Checkpointer, ClassSampleGrid, EvaluationCallback, MirrorCallback, NanGuard,
                                  Progress, RunLogger, SampleGrid, prepared_evaluator)
from deepdeconv.callbacks.validation import Validation
from deepdeconv.checkpoint import check_compatible, latest_checkpoint, restore_checkpoint
from deepdeconv.config import TrainConfig
from deepdeconv.data import load_source, training_batches
from deepdeconv.data.clusters import default_count, self_conditioned_source
from deepdeconv.data.fullsize import restoration_data
from deepdeconv.data.patches import restoration_batches
from deepdeconv.distribute import check_batch, distribute_batches, is_chief, make_strategy, output_dir
from deepdeconv.errors import UserError
from deepdeconv.fileio import append_jsonl, read_jsonl, remove_stale_temporaries
from deepdeconv.fingerprint import check_data_unchanged, resolved_spec
from deepdeconv.gan import build_gan
from deepdeconv.guards import write_failure
from deepdeconv.metrics.registry import parse_metrics
from deepdeconv.options import require
from deepdeconv.restorer import build_restorer_model
from deepdeconv.sampling import latents_from_seeds


def resolve_config(config, source):
    """Fills the options that depend on the data (channels, class names, clusters, run name).

    Returns:
        (the config, the source: under `--clusters`, an ImageSource labelled by its clusters).
    """
    changes = {"channels": config.channels or source.channels}
    if config.conditional:
        if not source.class_names:
            raise UserError(f"--conditional needs labelled data, but {config.data} has no classes "
                            "(put each class in its own subfolder).")
        changes["class_names"] = tuple(source.class_names)
    if config.clusters is None:
        changes["clusters"] = default_count(source.num_images)
    clusters = changes.get("clusters", config.clusters)
    if clusters:
        require(clusters <= source.num_images,
                f"--clusters {clusters} is more than the {source.num_images} images of {config.data}.")
        print(f"Clustering {source.num_images} images into {clusters} self-conditioning clusters.", file=sys.stderr)
        source = self_conditioned_source(source, clusters, config.seed)
        changes["cluster_frequencies"] = source.label_shares(clusters)
        if config.cluster_frequencies and not np.allclose(config.cluster_frequencies, changes["cluster_frequencies"]):
            # A resumed run clustered by another deepdeconv version (or on changed data): its
            # per-cluster weights now meet other clusters, which training re-learns.
            print(f"warning: the clusters of {config.data} differ from those this run was trained on; "
                  "training continues on the new ones.", file=sys.stderr)
    if not config.name:
        changes["name"] = source.name
    if not config.data_fingerprint:  # a new run: remember where the data is and what it holds
        changes["data"], changes["data_fingerprint"] = resolved_spec(config.data)
    return config.replace(**changes), source


def resume_config(run_dir, overrides):
    """The config to continue `run_dir` with: the saved one plus `overrides`.

    Args:
        run_dir: an existing run directory.
        overrides: {field: value} the user gave explicitly (a longer duration, say).

    Raises:
        UserError: if an override changes the architecture.
    """
    run_dir = rundir.require_run_dir(remote.local_run_dir(run_dir))
    saved = TrainConfig.load(run_dir / rundir.CONFIG)
    requested = TrainConfig.from_options(overrides, base=saved)
    check_compatible(saved, requested, run_dir / rundir.CONFIG)
    return requested


def _elapsed_so_far(log_path):
    elapsed = 0.0
    for record in read_jsonl(log_path):
        elapsed = record.get("elapsed_s", elapsed)
    return elapsed


def _report_data(source, log_path):
    append_jsonl(log_path, {"event": "data", "name": source.name, "num_images": source.num_images,
                            "channels": source.channels, "classes": list(source.class_names),
                            "skipped": [list(s) for s in source.skipped]})
    if source.skipped:
        print(f"warning: skipped {len(source.skipped)} file(s) that could not be decoded "
              f"(listed in {log_path}).", file=sys.stderr)


def _callbacks(config, run_dir, source, writer, progress, mirror, evaluator):
    total = config.total_steps
    nan_guard = NanGuard()
    checkpointer = Checkpointer(run_dir, config, config.checkpoint_every, config.keep_checkpoints, nan_guard)
    logger = RunLogger(run_dir / rundir.LOG, writer, config.log_every, config.batch,
                       elapsed_before=_elapsed_so_far(run_dir / rundir.LOG))
    latents = latents_from_seeds(range(config.grid_size), config.z_dim)
    if config.is_restoration:
        # Validation also keeps checkpoints/best/ by validation PSNR.
        grid = Validation(run_dir, config, source.val, config.restore.val_every, writer,
                          on_best=checkpointer.save_best)
    elif config.conditional:
        grid = ClassSampleGrid(run_dir, latents, len(config.class_names), config.sample_every, writer)
    else:
        grid = SampleGrid(run_dir, latents, config.sample_every, writer)
    callbacks = [nan_guard, logger, grid, checkpointer]
    if config.eval_every and not config.is_restoration:
        callbacks.append(EvaluationCallback(run_dir, config, source, config.eval_every, config.eval_metrics,
                                            config.eval_num, on_best=checkpointer.save_best, writer=writer,
                                            evaluator=evaluator))
    if mirror is not None:
        # As often as anything is written, so a preempted TPU VM loses at most that much.
        written = config.restore.val_every if config.is_restoration else config.sample_every
        callbacks.append(MirrorCallback(mirror, min(config.log_every, written, config.checkpoint_every)))
    callbacks.append(Progress(total, config.batch, disable=not progress))
    return callbacks, nan_guard, checkpointer, logger


def load_data(config, cache=None):
    """The run's data: an ImageSource for the GAN, a RestorationSource for a restoration task."""
    if config.is_restoration:
        r = config.restore
        return restoration_data(config.data, r.val, config.channels, r.patch, r.val_count)
    return load_source(config.data, config.resolution, config.channels, cache_dir=cache)


def build_model(config):
    """The compiled GAN or Restorer of `config` (call inside the strategy scope)."""
    if config.is_restoration:
        return build_restorer_model(config)
    return build_gan(config)


def _batches(config, source, start, strategy):
    if config.is_restoration:
        return restoration_batches(source.train, config, start_step=start)
    dataset = training_batches(source, config.batch * config.d_steps, config.seed, start_step=start)
    return distribute_batches(dataset, config.batch, config.d_steps, strategy)


def _first_batch(config, source):
    """One global batch as the step receives it, for timing the speed candidates."""
    if config.is_restoration:
        return next(iter(restoration_batches(source.train, config)))
    return next(iter(training_batches(source, config.batch * config.d_steps, config.seed)))


def train(config, run_dir=None, progress=True, allow_data_change=False, callbacks=()):
    """Trains a GAN or a restorer (`config.task`); writes everything into a run directory.

    Args:
        config: a TrainConfig. For a new run, options that depend on the data are filled in
            and the result is saved as the run's config.json.
        run_dir: None to start a new numbered run under `config.outdir`; an existing run
            directory to resume it from its latest checkpoint (use `resume_config` to
            build `config`). `config.outdir` and `run_dir` may be gs:// URLs: the run is
            then written on local disk and mirrored there as it is written.
        progress: show the progress bar.
        allow_data_change: resume even if the local data folder's fingerprint changed.
        callbacks: more Keras callbacks, called after the run's own at each step (their
            `model` is the GAN or restorer being trained), e.g. to watch its weights.

    Returns:
        The run directory, a URL for a remote run (None on a multi-worker worker that is not
        the chief of a new run: it writes nothing but a scratch folder it deletes).

    Raises:
        UserError: for bad data, an incompatible checkpoint, or a non-finite loss.
        KeyboardInterrupt: after a checkpoint of the interrupted state has been saved.
    """
    resuming = run_dir is not None
    parse_metrics(config.eval_metrics, "--eval-metrics")  # every option checked before anything is created
    if resuming and allow_data_change:
        config = config.replace(data_fingerprint="")  # recorded afresh by resolve_config
    elif resuming:
        check_data_unchanged(config)
    strategy = make_strategy(config.strategy, config.tpu)
    check_batch(config.batch, strategy)
    # Data too large for memory is decoded once into a cache under the output folder, where
    # later runs on the same files find it.
    outdir = remote.staging_dir(config.outdir) if remote.is_url(config.outdir) else Path(config.outdir)
    cache = outdir / ".cache"
    config, source = resolve_config(config, load_data(config, cache))
    evaluator = None  # prepared before anything is created: a missing Inception graph leaves no orphan run
    if config.eval_every and not config.is_restoration:
        evaluator = prepared_evaluator(config, source, config.eval_metrics)
    url = None  # the run's remote home, when it has one
    if resuming:
        if remote.is_url(run_dir):
            url, run_dir = str(run_dir).rstrip("/"), remote.local_run_dir(run_dir, progress=progress)
        run_dir = Path(run_dir)
        check_compatible(TrainConfig.load(run_dir / rundir.CONFIG), config, run_dir / rundir.CONFIG)
    elif is_chief(strategy):
        if remote.is_url(config.outdir):
            url, run_dir = remote.create_remote_run(config.outdir, config.name)
        else:
            run_dir = rundir.create_run_dir(config.outdir, config.name)
    mirror = remote.Mirror(run_dir, url) if url is not None and is_chief(strategy) else None
    if mirror is not None and resuming:
        mirror.mark_synced()
    # Only the chief writes the run; other workers write into a scratch folder deleted at the end.
    with output_dir(strategy, run_dir, config.outdir) as out_dir:
        try:
            _train_into(out_dir, config, source, strategy, run_dir if resuming else None, progress, mirror, evaluator,
                        url or out_dir, callbacks)
        finally:
            if mirror is not None:
                mirror.sync()  # also after Ctrl-C or a stopped run: the last checkpoint must get home
    return url or run_dir


def _train_into(out_dir, config, source, strategy, resume_from, progress, mirror, evaluator, shown_as, extra):
    """Builds the model under `strategy`, restores `resume_from` if given, fits; writes into `out_dir`.

    `mirror` (or None) copies `out_dir` to the run's remote home, `evaluator` (or None) is the
    prepared Evaluator of `--eval-every`, `shown_as` names the run in messages, `extra` holds
    the caller's callbacks.
    """
    # Speed options left at auto become measured choices, saved in config.json (so a resumed
    # run keeps them) and logged with the measured rates.
    speed = autotune.resolve(config, strategy, build_model, lambda: _first_batch(config, source), config.batch)
    config = speed.config

    with strategy.scope():
        gan = speed.model if speed.model is not None else build_model(config)
    start = 0
    latest = latest_checkpoint(resume_from) if resume_from is not None else None
    if latest is not None:
        start = restore_checkpoint(gan, latest)
    # Only now that the checkpoint is known to fit: a refused resume leaves the run untouched.
    config.save(out_dir / rundir.CONFIG)
    if resume_from is not None:
        remove_stale_temporaries(out_dir)  # half-written files of a killed predecessor
    _report_data(source, out_dir / rundir.LOG)
    if speed.event is not None:
        append_jsonl(out_dir / rundir.LOG, speed.event)
    remaining = config.total_steps - start
    if remaining <= 0:
        print(f"{resume_from} already reached step {start} of {config.total_steps}; "
              "pass a larger --steps or --kimg to continue.", file=sys.stderr)
        return

    dataset = _batches(config, source, start, strategy)
    writer = tf.summary.create_file_writer(str(out_dir / rundir.TENSORBOARD))
    own, nan_guard, checkpointer, logger = _callbacks(config, out_dir, source, writer, progress, mirror, evaluator)
    try:
        gan.fit(dataset, epochs=1, steps_per_epoch=remaining, verbose=0, shuffle=False,
                callbacks=own + list(extra))
    except KeyboardInterrupt:
        checkpointer.save()
        print(f"\ninterrupted at step {int(gan.step.numpy())}; checkpoint saved, continue with "
              f"--resume {shown_as}", file=sys.stderr)
        raise
    except OSError as e:  # a full disk or a lost mount: every checkpoint already written is whole
        raise write_failure(e, out_dir, int(gan.step.numpy())) from None
    finally:
        writer.close()
    if nan_guard.bad_step is not None:
        latest = latest_checkpoint(out_dir)
        if latest is not None and mirror is not None:
            latest = remote.join(shown_as, latest.relative_to(out_dir).as_posix())
        raise UserError(f"Training stopped at step {nan_guard.bad_step} because "
                        f"{', '.join(sorted(nan_guard.bad_losses))} became non-finite; the last good checkpoint "
                        f"is {latest or 'none (no checkpoint was written yet)'} (try lower --g-lr/--d-lr).")
