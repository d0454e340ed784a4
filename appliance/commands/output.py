"""What the commands print, through one door that a closed pipe cannot break.

``nightswitch status --json | head -1`` closes the pipe after the first line; Python
then raises :exc:`BrokenPipeError` on the next write or at the final flush. The reader
has all it wanted, so that is not an error: :func:`emit` and :func:`emit_json` stop
writing quietly, and :func:`reader_gone` (also used by :func:`appliance.cli.main` for
any command) sends what is left to ``/dev/null`` so the interpreter's own flush at exit
does not complain either.
"""

from __future__ import annotations

import json
import os
import sys


def reader_gone() -> None:
    """The reader of standard output has closed it: point the descriptor at /dev/null,
    so later writes and the flush at exit are silent (the Python documentation's way)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def emit(text: str = "", *, end: str = "\n") -> bool:
    """Print *text* and flush it now; False when the reader has gone (a closed pipe),
    so a long listing can stop early."""
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()
        return False
    return True


def emit_json(value) -> bool:
    """*value* as indented JSON (ISO-8601 times stay as they are: JSON is for
    machines), through :func:`emit`."""
    return emit(json.dumps(value, indent=2, ensure_ascii=False))


__all__ = ["emit", "emit_json", "reader_gone"]
