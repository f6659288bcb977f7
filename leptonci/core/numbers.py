"""How a number is shown to people, in one precision everywhere (``report.precision``).

Like DVC's ``--precision``: a count of digits after the decimal point, except that a
value too small to show at that precision keeps that many significant digits instead,
so 0.00012 never prints as 0.000.
"""

from __future__ import annotations

import math

DEFAULT_PRECISION = 3


def fmt(value: float | None, precision: int = DEFAULT_PRECISION, *, signed: bool = False) -> str:
    """value with precision decimals ("-" for None; nan and inf as such)."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    sign = "+" if signed else ""
    text = format(value, f"{sign}.{precision}f")
    if value != 0 and float(text) == 0:  # tiny values would all print as 0.000
        text = format(value, f"{sign}.{precision}g")
    return text
