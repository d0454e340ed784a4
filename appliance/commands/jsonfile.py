"""Reading a JSON document a person wrote: a schedule for ``preview`` or ``schedule
import``. Every way it can be wrong becomes one :exc:`~appliance.errors.ValidationError`
naming the file, and the line and column of a syntax error; nothing is silently lost."""

from __future__ import annotations

import json
import sys

from appliance.errors import FieldError, ValidationError

#: A schedule is a few kilobytes; a larger file is a mistake, not a schedule.
MAX_FILE = 4 * 1024 * 1024


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs):
    # json keeps the last of two equal keys; two "mon" lists would silently lose one.
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def read_json_file(path: str, *, option: str = "FILE") -> object:
    """The JSON document in *path* (``-`` for standard input).

    :param str option: the command-line name of the argument, for a file that cannot be read.
    :raises ~appliance.errors.ValidationError: naming what is wrong.
    """
    source = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read(MAX_FILE + 1)
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise ValidationError(
            [FieldError(option, f"cannot read {path}: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ValidationError(
            [FieldError("", "is not UTF-8 text; save the schedule as UTF-8 JSON")], source
        ) from None
    if len(text) > MAX_FILE:
        raise ValidationError(
            [FieldError("", "is larger than 4 MiB; a schedule is a few kilobytes")], source
        )
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            [FieldError("", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")],
            source,
        ) from None
    except _DuplicateKey as exc:
        raise ValidationError(
            [
                FieldError(
                    "",
                    f"the key {exc.args[0]!r} appears twice in one "
                    "object; each key may appear only once",
                )
            ],
            source,
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN, Infinity, absurd nesting
        raise ValidationError([FieldError("", f"not valid JSON: {exc}")], source) from None
