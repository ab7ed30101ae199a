"""Generic helpers for frozen option dataclasses: fields with help text, ranges, JSON round trips.

`config.py` and `restore_config.py` hold the options themselves and their validation; what here
is not specific to any one option: a field carrying its `--help` text, parsing "lo-hi" ranges,
building a dataclass from a JSON dictionary with one-sentence errors for unknown keys or wrong types.
"""
import dataclasses
import typing

from deepdeconv.errors import UserError


def opt(default, help_text):
    """A dataclass field whose --help text travels with it."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in a frozen config")
    return dataclasses.field(default=default, metadata={"help": help_text})


def require(ok, message):
    """Raises UserError(message) unless `ok`: one line per check in a `validate` method."""
    if not ok:
        raise UserError(message)


def parse_range(text, option, low=0.0, high=float("inf")):
    """Parses "25" or "0-55" into (lo, hi) floats; UserError naming `option` when malformed.

    Args:
        text: a number or two numbers joined by "-".
        option: the command-line flag to name in the error.
        low, high: the allowed interval.

    Returns:
        (lo, hi) with lo <= hi; equal for a single number.
    """
    parts = str(text).split("-")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(low <= v <= high for v in values) or values[0] > values[-1]:
        raise UserError(f"{option} must be a number or a range lo-hi within [{low:g}, {high:g}], got {text!r}.")
    return values[0], values[-1]


def dataclass_from_dict(cls, d, source):
    """Builds dataclass `cls` from a JSON dictionary, refusing unknown keys and wrong types.

    Args:
        cls: the (frozen) dataclass to build.
        d: field values; missing fields take their defaults.
        source: what to name in the error message (usually the file path).

    Returns:
        The instance, not yet validated beyond field types.
    """
    if not isinstance(d, dict):
        raise UserError(f"{source} must hold a JSON object of options, not {type(d).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise UserError(f"{source} has unknown option(s) {', '.join(unknown)}; it was written by an "
                        "incompatible version of deepdeconv.")
    d = dict(d)
    hints = typing.get_type_hints(cls)
    for name, value in d.items():  # JSON has lists where the dataclass holds tuples
        if isinstance(value, list) and typing.get_origin(hints[name]) is tuple:
            d[name] = tuple(value)
    try:
        obj = cls(**d)
    except TypeError as e:
        raise UserError(f"{source}: {e}.") from None
    check_field_types(obj, source)
    return obj


def check_field_types(obj, source="config"):
    """Refuses a field whose value is not of its annotated type (a tampered or foreign file)."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value, kind = getattr(obj, field.name), hints[field.name]
        element = None
        if typing.get_origin(kind) is tuple:  # Tuple[T, ...]
            kind, element = tuple, typing.get_args(kind)[0]
        allowed = tuple(a for a in typing.get_args(kind) if a is not type(None)) or (kind,)
        if value is None and type(None) in typing.get_args(kind):
            continue
        if float in allowed:
            allowed += (int,)
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if ok and element is not None:
            ok = all(isinstance(v, (int, float) if element is float else element) and not isinstance(v, bool)
                     for v in value)
        if not ok:
            names = " or ".join(a.__name__ for a in allowed)
            raise UserError(f"{source}: option {field.name} must be {names}, got {value!r}.")
