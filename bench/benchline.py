"""The machine-readable ``BENCH`` line every ``bench/bench_*.py`` script prints per figure.

::

    BENCH name=<id> value=<number> unit=<unit> [floor="<text>"] target=<comparison>[ free text]

``bench/run_all.py`` reads only these lines (its docstring describes the format); the
scripts' other output is for people.
"""

from __future__ import annotations

import math


def bench_line(
    name: str, value: float | int, unit: str, target: str = "-", *, digits: int = 3, floor: str = ""
) -> str:
    """One ``BENCH`` line. *value* is written as a plain number with *digits* decimals
    (an int as it is), ``nan`` if it is not finite (the runner reports that as MISSING);
    a *unit* with spaces is quoted; *target* ``-`` means informational, no target."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: value must be a number, not {value!r}")
    if isinstance(value, int):
        text = str(value)
    else:
        text = f"{value:.{digits}f}" if math.isfinite(value) else "nan"
    if '"' in unit or '"' in floor:
        raise ValueError(f"{name}: unit and floor cannot contain a double quote")
    unit_text = f'"{unit}"' if " " in unit else unit
    line = f"BENCH name={name} value={text} unit={unit_text}"
    if floor:
        line += f' floor="{floor}"'
    return f"{line} target={target or '-'}"
