"""Search spaces: declared once in YAML, driving both engines.

A file looks like::

    description: Hands-On ML ch. 10, the book's space
    params:
      n_hidden: {type: int, low: 0, high: 3}
      n_neurons: {type: int, low: 1, high: 100}
      learning_rate: {type: float, low: 3.0e-4, high: 3.0e-2, log: true}
      optimizer: {type: categorical, choices: [sgd, nesterov, adam]}
      activation: relu            # a plain value is fixed, not searched

The same parsed object yields scipy distributions for ``RandomizedSearchCV``
(:meth:`SearchSpace.to_distributions`) and ``trial.suggest_*`` calls for Optuna
(:meth:`SearchSpace.suggest`), so both engines search identical names and bounds.
Every mistake is reported on load with the file, the key and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

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
FIT_PARAMS = {"batch_size"}  # routed to Keras fit, not to build_model
TYPES = ("int", "float", "categorical")


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


def _spaces_dir() -> Path:
    """Shipped spaces: inside the package when installed from a wheel, else the repo's."""
    packaged = Path(__file__).resolve().parent / "search_spaces"
    return packaged if packaged.is_dir() else packaged.parent.parent / "search_spaces"


SPACES_DIR = _spaces_dir()


@dataclass(frozen=True)
class IntParam:
    low: int
    high: int
    step: int = 1
    log: bool = False

    def describe(self) -> str:
        extra = (", log" if self.log else "") + (f", step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}]{extra}"


@dataclass(frozen=True)
class FloatParam:
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def describe(self) -> str:
        extra = (", log" if self.log else "") + (f", step {self.step}" if self.step else "")
        return f"float [{self.low:g}, {self.high:g}]{extra}"


@dataclass(frozen=True)
class CategoricalParam:
    choices: tuple

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


Param = IntParam | FloatParam | CategoricalParam


class _IntLogUniform:
    """Integers drawn log-uniformly from [low, high] (scipy has no discrete log-uniform)."""

    def __init__(self, low: int, high: int):
        from scipy.stats import loguniform

        self.low, self.high = low, high
        self._dist = loguniform(low, high + 1)

    def rvs(self, size=None, random_state=None):
        draw = np.floor(self._dist.rvs(size=size, random_state=random_state)).astype(int)
        return np.clip(draw, self.low, self.high)


@dataclass(frozen=True)
class SearchSpace:
    name: str
    path: Path
    params: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    text: str = ""  # the YAML it was read from, recorded in a study for workers

    def to_distributions(self) -> dict[str, Any]:
        """scipy distributions (or lists) for ``RandomizedSearchCV.param_distributions``."""
        from scipy.stats import loguniform, randint, uniform

        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, CategoricalParam):
                dist: Any = list(p.choices)
            elif isinstance(p, IntParam):
                if p.log:
                    dist = _IntLogUniform(p.low, p.high)
                elif p.step != 1:
                    dist = list(range(p.low, p.high + 1, p.step))
                else:
                    dist = randint(p.low, p.high + 1)
            elif p.step:
                dist = [round(float(v), 12) for v in np.arange(p.low, p.high + p.step / 2, p.step)]
            else:
                dist = loguniform(p.low, p.high) if p.log else uniform(p.low, p.high - p.low)
            out[name] = dist
        return out

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one value of every searched parameter."""
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, CategoricalParam):
                out[name] = trial.suggest_categorical(name, list(p.choices))
            elif isinstance(p, IntParam):
                out[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
            else:
                out[name] = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)
        return out

    def rows(self) -> list[tuple[str, str]]:
        """(name, description) for display, searched first, then fixed."""
        rows = [(n, p.describe()) for n, p in self.params.items()]
        return rows + [(n, f"fixed = {v}") for n, v in self.fixed.items()]


def _fail(path: Path, key: str, problem: str) -> TunerError:
    return TunerError(f"{path}: {key}: {problem}")


def _number(path: Path, key: str, spec: dict, name: str, kind: type) -> Any:
    if name not in spec:
        raise _fail(path, key, f"missing '{name}'")
    value = spec[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(float(value)):
        raise _fail(
            path,
            key,
            f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            + _exponent_hint(value),
        )
    return kind(value)


def _exponent_hint(value: Any) -> str:
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


def _check_bounds(path: Path, key: str, name: str, value: float, what: str = "value") -> None:
    bounds = BOUNDS.get(name)
    if bounds is not None and not bounds.admits(value):
        raise _fail(path, key, f"{what} {value!r} is out of range: {name} must be {bounds.describe()}")


def _check_value(path: Path, key: str, name: str, value: Any) -> None:
    """A fixed value or a categorical choice: the right type, a known name, within bounds."""
    expected = TUNABLE[name]
    searched = f"or search it with {{type: {expected.__name__}, low: ..., high: ...}}"
    if expected is str and not isinstance(value, str):
        raise _fail(path, key, f"expected a name, got {value!r}; allowed: {', '.join(ALLOWED_VALUES[name])}")
    if expected in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        hint = _exponent_hint(value) or f"; write a plain number {searched}"
        raise _fail(path, key, f"expected a number, got {value!r}{hint}")
    if expected is int and not float(value).is_integer():
        raise _fail(path, key, f"expected an integer, got {value!r}; write a whole number {searched}")
    if expected is float and not math.isfinite(value):
        raise _fail(path, key, f"expected a finite number, got {value!r}")
    if name in ALLOWED_VALUES and value not in ALLOWED_VALUES[name]:
        allowed = ", ".join(ALLOWED_VALUES[name])
        raise _fail(path, key, f"unknown {name} {value!r}; allowed: {allowed}")
    if expected is not str:
        _check_bounds(path, key, name, value)


def _parse_param(path: Path, name: str, spec: Any) -> Param | None:
    """A searched parameter, or None when ``spec`` is a fixed value."""
    key = f"params.{name}"
    if not isinstance(spec, dict):
        _check_value(path, key, name, spec)
        return None
    kind = spec.get("type")
    if kind not in TYPES:
        raise _fail(path, key, f"unknown type {kind!r}; allowed: {', '.join(TYPES)}")
    allowed_keys = {"choices"} if kind == "categorical" else {"low", "high", "step", "log"}
    extra = set(spec) - allowed_keys - {"type"}
    if extra:
        raise _fail(
            path,
            key,
            f"unknown field(s) {', '.join(sorted(map(str, extra)))} for type {kind}; "
            f"allowed: {', '.join(sorted(allowed_keys))}",
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _fail(path, key, "'choices' must be a non-empty list")
        for i, choice in enumerate(choices):
            _check_value(path, f"{key}.choices[{i}]", name, choice)
        if len(set(map(repr, choices))) != len(choices):
            raise _fail(path, key, "'choices' has duplicates")
        return CategoricalParam(tuple(choices))
    if kind == "int" and TUNABLE[name] is not int:
        raise _fail(path, key, f"{name} takes a {TUNABLE[name].__name__}, so type int does not fit")
    if kind == "float" and TUNABLE[name] is not float:
        raise _fail(path, key, f"{name} takes a {TUNABLE[name].__name__}, so type float does not fit")
    num = int if kind == "int" else float
    low, high = _number(path, key, spec, "low", num), _number(path, key, spec, "high", num)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise _fail(path, key, f"'log' must be true or false, got {log!r}")
    if low > high:
        raise _fail(path, key, f"low ({low}) > high ({high}); swap them")
    if log and low <= 0:
        raise _fail(path, key, f"log scale needs low > 0, got low={low}; raise low or drop 'log'")
    _check_bounds(path, key, name, low, "low")
    _check_bounds(path, key, name, high, "high")
    step = _number(path, key, spec, "step", num) if "step" in spec else None
    if step is not None and step <= 0:
        raise _fail(path, key, f"'step' must be > 0, got {step}")
    if step is not None and log and step != 1:
        raise _fail(path, key, "'step' cannot be combined with log: true")
    if step is not None and high > low and step > high - low:
        # Optuna would search the single value `low`: a search that cannot search.
        raise _fail(
            path,
            key,
            f"'step' ({step}) is larger than the range [{low}, {high}], so only {low} could be "
            f"drawn; make step at most {high - low} or widen the range",
        )
    if kind == "int":
        return IntParam(low, high, step or 1, log)
    return FloatParam(low, high, log, step)


def load_space(path: str | Path) -> SearchSpace:
    """Parse and validate a search-space file; raise TunerError naming what is wrong."""
    path = Path(path)
    if not path.exists() and not path.suffix and (SPACES_DIR / f"{path}.yaml").exists():
        path = SPACES_DIR / f"{path}.yaml"  # a shipped space by bare name
    if not path.is_file():
        raise TunerError(f"search space file not found: {path} (see `tuner spaces` for shipped ones)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # a binary file, or text saved in another encoding
        raise TunerError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            f"a space file is YAML text: save it as UTF-8"
        ) from None
    return parse_space(text, path)


def parse_space(text: str, path: Path) -> SearchSpace:
    """A space from its YAML ``text``; ``path`` names it (a worker gets the text from its study)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise TunerError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise TunerError(f"{path}: expected a mapping with a 'params' key at the top")
    unknown = set(doc) - {"params", "description"}
    if unknown:
        raise _fail(
            path, ", ".join(sorted(map(str, unknown))), "unknown top-level key; allowed: params, description"
        )
    raw = doc.get("params")
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, "params", "must be a non-empty mapping of parameter name to spec")
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in raw.items():
        if name not in TUNABLE:
            raise _fail(
                path, f"params.{name}", f"not a parameter of build_model; allowed: {', '.join(TUNABLE)}"
            )
        parsed = _parse_param(path, name, spec)
        if parsed is None:
            fixed[name] = spec
        else:
            params[name] = parsed
    if not params:
        raise _fail(path, "params", "every parameter is fixed; give at least one a type to search")
    description = str(doc.get("description", "")).strip()
    return SearchSpace(path.stem, path, params, fixed, description, text)


def shipped_spaces() -> list[Path]:
    """The space files that come with tuner."""
    return sorted(SPACES_DIR.glob("*.yaml"))
