"""The values a search space may give the parameters tuner knows: types, allowed names, bounds.

Checked on load, with the file, the key and what is allowed, so that a typo fails at
once rather than in every trial inside Keras. A user's own network's parameters are
free (its build function checks them, and the check before a search calls it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.choices import ACTIVATIONS, OPTIMIZERS, REGRESSION_LOSSES
from tuner.errors import TunerError

# Parameters a space may set: build_model's hyperparameters, plus the batch size.
TUNABLE = {
    "n_hidden": int,
    "n_neurons": int,
    "learning_rate": float,
    "optimizer": str,
    "activation": str,
    "dropout": float,
    "loss": str,
    "momentum": float,
    "batch_size": int,
}


ALLOWED_VALUES = {"optimizer": OPTIMIZERS, "activation": ACTIVATIONS, "loss": REGRESSION_LOSSES}


@dataclass(frozen=True)
class Bounds:
    """The values a parameter may take at all, whether fixed, a range's ends or a choice.

    Checked on load: a negative layer size or a zero batch size would otherwise start a
    search whose every trial fails inside Keras.
    """

    low: float
    high: float = math.inf
    low_open: bool = False  # low itself is excluded
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


BOUNDS = {
    "n_hidden": Bounds(0),  # 0 hidden layers: a linear / logistic model
    "n_neurons": Bounds(1),
    "batch_size": Bounds(1),
    "learning_rate": Bounds(0, low_open=True),
    "dropout": Bounds(0, 1, high_open=True),  # Keras refuses a rate of 1
    "momentum": Bounds(0, 1),  # Keras' SGD refuses momentum outside [0, 1]
}


def fail(path: Path, key: str, problem: str) -> TunerError:
    return TunerError(f"{path}: {key}: {problem}")


def number(path: Path, key: str, spec: dict, name: str, kind: type) -> Any:
    if name not in spec:
        raise fail(path, key, f"missing '{name}'")
    value = spec[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(float(value)):
        raise fail(
            path,
            key,
            f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            + exponent_hint(value),
        )
    return kind(value)


def exponent_hint(value: Any) -> str:
    """PyYAML reads 1e-3 as a string: a YAML 1.1 float needs a dot and a signed exponent."""
    if not isinstance(value, str) or "e" not in value.lower():
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    return f"; YAML reads {value} as text: write {_with_dot(value)}"


def _with_dot(text: str) -> str:
    """``text`` as a YAML 1.1 float: a dot in the mantissa, a sign on the exponent."""
    mantissa, _, exponent = text.strip().lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + ("e" + exponent if exponent else "")


def check_bounds(path: Path, key: str, name: str, value: float, what: str = "value") -> None:
    bounds = BOUNDS.get(name)
    if bounds is not None and not bounds.admits(value):
        raise fail(path, key, f"{what} {value!r} is out of range: {name} must be {bounds.describe()}")


def check_value(path: Path, key: str, name: str, value: Any) -> None:
    """A fixed value or a categorical choice: the right type, a known name, within bounds."""
    expected = TUNABLE[name]
    searched = f"or search it with {{type: {expected.__name__}, low: ..., high: ...}}"
    if expected is str and not isinstance(value, str):
        raise fail(path, key, f"expected a name, got {value!r}; allowed: {', '.join(ALLOWED_VALUES[name])}")
    if expected in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        hint = exponent_hint(value) or f"; write a plain number {searched}"
        raise fail(path, key, f"expected a number, got {value!r}{hint}")
    if expected is int and not float(value).is_integer():
        raise fail(path, key, f"expected an integer, got {value!r}; write a whole number {searched}")
    if expected is float and not math.isfinite(value):
        raise fail(path, key, f"expected a finite number, got {value!r}")
    if name in ALLOWED_VALUES and value not in ALLOWED_VALUES[name]:
        allowed = ", ".join(ALLOWED_VALUES[name])
        raise fail(path, key, f"unknown {name} {value!r}; allowed: {allowed}")
    if expected is not str:
        check_bounds(path, key, name, value)


def check_choice(path: Path, key: str, name: str, value: Any, checked: bool) -> None:
    """A fixed value or a choice: tuner's checks for names it knows, a plain YAML value for others."""
    if checked:
        check_value(path, key, name, value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise fail(path, key, f"expected a finite number, got {value!r}")
