"""Metric values as every view shows them: finite numbers, or missing.

A metric MLflow holds may be NaN or infinite (a diverged trial's loss). JSON has no spelling
for either (Python's ``json`` would write ``NaN`` or ``Infinity``, which other readers
refuse), and a table cell reads better empty: so ``tuner show``, ``tuner compare`` and the
trials table all show such a value as missing. MLflow's SQL stores keep an infinite metric
as the largest float, of either sign: that is infinite too.
"""

from __future__ import annotations

import math
import sys

_LARGEST = sys.float_info.max  # MLflow's SQL stores' spelling of an infinite metric


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float when it is a finite number; None when missing, NaN or infinite."""
    if value is None or not math.isfinite(value) or abs(value) == _LARGEST:
        return None
    return float(value)
