"""What sample.py draws and where it goes: classes per seed, default file names, output paths."""
import os
import re
from pathlib import Path

import numpy as np

from deepdeconv import rundir
from deepdeconv.errors import UserError
from deepdeconv.sampling.latents import class_of
from deepdeconv.sampling.generate import is_conditional, num_classes_of


def class_count(generator, class_names):
    """Number of classes of a conditional generator (config first, then the model); None if unconditional."""
    if not is_conditional(generator):
        return None
    count = len(class_names) or num_classes_of(generator)
    if not count:
        raise UserError("This conditional generator does not say how many classes it has; "
                        "sample from its run directory, whose config.json names them.")
    return count


def class_index(text, generator, class_names):
    """`--class` (a name or an index) as an index checked against the generator; None when not given."""
    if text is None:
        return None
    count = class_count(generator, class_names)
    if count is None:
        raise UserError("--class needs a conditional generator, but this one is unconditional.")
    if text in class_names:
        return class_names.index(text)
    known = ", ".join(f"{i}={n}" for i, n in enumerate(class_names)) or f"0-{count - 1}"
    if not text.isdigit():
        raise UserError(f"--class {text!r} is not a class of this generator; choose from {known}.")
    if int(text) >= count:
        raise UserError(f"--class {text} is out of range; this generator has {count} classes ({known}).")
    return int(text)


def seed_labels(generator, seeds, fixed_class, class_names):
    """One class per seed for a conditional generator: `fixed_class`, else `class_of(seed)`; None if unconditional."""
    count = class_count(generator, class_names)
    if count is None:
        return None
    if fixed_class is not None:
        return np.full(len(seeds), fixed_class, np.int64)
    return class_of(seeds, count)


def file_tag(seeds, seeds_text, class_names=(), fixed_class=None, trunc=None, checkpoint=None, ema=True):
    """Default file-name stem describing what was sampled, e.g. seeds0-63-trunc1.5-noema.

    Args:
        seeds: the seed sequence (a range for bulk sampling).
        seeds_text: the seeds as the user wrote them (used when `seeds` is not a range).
        class_names, fixed_class: the generator's classes and the one asked for, if any.
        trunc: truncation threshold, or None.
        checkpoint: the checkpoint option, or None.
        ema: whether the EMA generator is used.
    """
    if isinstance(seeds, range):
        label = f"{seeds.start}-{seeds.stop - 1}"
    else:
        label = re.sub(r"[^0-9-]+", "_", seeds_text)
        if len(label) > 40:
            label = f"{seeds[0]}_to_{seeds[-1]}_n{len(seeds)}"
    parts = [f"seeds{label}"]
    if fixed_class is not None:
        parts.append(f"class{class_names[fixed_class] if class_names else fixed_class}")
    if trunc is not None:
        parts.append(f"trunc{trunc:g}")
    if checkpoint:
        parts.append(Path(checkpoint).stem)
    if not ema:
        parts.append("noema")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def output_path(given, run_dir, default_name, option, *suffixes):
    """The path to write: the user's, else `default_name` in the run's samples folder.

    Refuses, before any generation, paths that cannot be written and suffixes that would
    mislabel the file; `suffixes` of ("",) means a folder.
    """
    if given is None:
        if run_dir is None:
            raise UserError(f"Name the output with {option} PATH when sampling from a .keras file "
                            "(only run directories have a samples folder).")
        path = Path(run_dir) / rundir.SAMPLES / default_name
    else:
        path = Path(given)
    is_folder = suffixes == ("",)
    if not is_folder and path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path} must end in {' or '.join(suffixes)}.")
    if path.exists() and path.is_dir() != is_folder:
        raise UserError(f"{option} {path} is {'a file' if is_folder else 'a folder'}; "
                        f"give a {'folder' if is_folder else 'file'} name.")
    existing = next(p for p in [path.parent, *path.parent.parents] if p.exists())
    if not existing.is_dir():
        raise UserError(f"Cannot write {path}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"Cannot write {path}: {existing} is not writable.")
    return path


def writing(task, *args, **kwargs):
    """Runs a writing task, turning a failed write (disk full, permissions) into one sentence."""
    try:
        return task(*args, **kwargs)
    except OSError as e:
        raise UserError(f"Could not write {e.filename or 'the output'} ({e.strerror or e}).") from None
