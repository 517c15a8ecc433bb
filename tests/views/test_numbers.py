"""Metric values as the views show them: finite, or missing (never NaN or Infinity)."""

from __future__ import annotations

import json
import math
import sys

import pytest

from tuner.views.numbers import finite_or_none


@pytest.mark.parametrize(
    "value", [None, math.nan, math.inf, -math.inf, sys.float_info.max, -sys.float_info.max]
)
def test_what_json_cannot_spell_and_mlflows_infinity_are_missing(value):
    assert finite_or_none(value) is None


@pytest.mark.parametrize("value", [0, 0.25, -3.5, 1e300])
def test_a_finite_number_is_itself_as_a_float(value):
    shown = finite_or_none(value)
    assert shown == value and isinstance(shown, float)
    json.dumps(shown, allow_nan=False)
