"""Search spaces: declared once in YAML, driving both engines.

A file looks like::

    description: Hands-On ML ch. 10, the book's space
    params:
      n_hidden: {type: int, low: 0, high: 3}
      n_neurons: {type: int, low: 1, high: 100}
      learning_rate: {type: float, low: 3.0e-4, high: 3.0e-2, log: true}
      optimizer: {type: categorical, choices: [sgd, nesterov, adam]}
      activation: relu            # a plain value is fixed, not searched
      momentum: {type: float, low: 0.5, high: 0.99, when: {optimizer: [nesterov]}}

``model:`` names the network (``mlp``, the default; ``wide_deep``; ``cnn``; or the user's
own ``file.py:function`` or ``module:function``). For the MLP only its parameters are
allowed; another network takes the names its build function takes, checked against its
signature when the search starts (:mod:`tuner.networks.contract`). ``when:`` samples a
parameter only while others have the values it names.

The same parsed object yields scipy distributions for ``RandomizedSearchCV``
(:meth:`SearchSpace.to_distributions`) and ``trial.suggest_*`` calls for Optuna
(:meth:`SearchSpace.suggest`), so both engines search identical names and bounds.
Every mistake is reported on load with the file, the key and what is allowed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tuner.choices import COMPILE_PARAMS, DATA_ARGS, FIT_PARAMS, MODELS, RESERVED_PARAMS
from tuner.conditions import Condition, check_conditions, describe_when, holds, parse_when
from tuner.errors import TunerError
from tuner.param_checks import TUNABLE, check_bounds, check_choice, fail, number

TUNERS_OWN = {*COMPILE_PARAMS, *FIT_PARAMS}  # checked for every network: tuner compiles and trains with them
TYPES = ("int", "float", "categorical")
TOP_KEYS = ("params", "description", "model")


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
    when: Condition = ()

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def describe(self) -> str:
        extra = (", log" if self.log else "") + (f", step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}]{extra}"


@dataclass(frozen=True)
class FloatParam:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: Condition = ()

    def describe(self) -> str:
        extra = (", log" if self.log else "") + (f", step {self.step}" if self.step else "")
        return f"float [{self.low:g}, {self.high:g}]{extra}"


@dataclass(frozen=True)
class CategoricalParam:
    choices: tuple
    when: Condition = ()

    def values(self) -> list:
        return list(self.choices)

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
    model: str = "mlp"  # the network: the file's ``model:``, or the override it was read with

    def to_distributions(self) -> dict[str, Any] | list[dict[str, Any]]:
        """scipy distributions (or lists) for ``RandomizedSearchCV.param_distributions``.

        A space with conditions gives a list of dicts, one per combination of the values of the
        parameters that conditions name (scikit-learn draws a dict, then its parameters): each
        dict holds the parameters that exist under those values. A parent's values are drawn
        equally often, as a categorical or a plain int range draws them (an int parent with
        ``log: true`` loses its log scale there).
        """
        parents = sorted({parent for p in self.params.values() for parent, _ in p.when})
        if not parents:
            return self._distributions(self.params)
        grids = []
        for values in itertools.product(*(self.params[n].values() for n in parents)):  # type: ignore[union-attr]
            chosen = self._existing(dict(zip(parents, values, strict=True)))
            present = {n: p for n, p in self.params.items() if n not in parents and holds(p.when, chosen)}
            grid = self._distributions(present)
            grid.update({n: [v] for n, v in chosen.items()})
            grids.append(grid)
        return grids

    def _existing(self, values: dict[str, Any]) -> dict[str, Any]:
        """Of the parents' ``values``, those that exist: a parent whose own parent did not draw its
        values is absent, and so are the parameters it conditions."""
        out: dict[str, Any] = {}
        for name in self.order():
            if name in values and holds(self.params[name].when, out):
                out[name] = values[name]
        return out

    @staticmethod
    def _distributions(params: dict[str, Param]) -> dict[str, Any]:
        from scipy.stats import loguniform, randint, uniform

        out: dict[str, Any] = {}
        for name, p in params.items():
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
        """Ask an Optuna trial for one value of every searched parameter whose conditions hold
        (define-by-run: a parameter whose parents did not draw its values is not asked at all)."""
        out: dict[str, Any] = {}
        for name in self.order():
            p = self.params[name]
            if not holds(p.when, out):
                continue
            if isinstance(p, CategoricalParam):
                out[name] = trial.suggest_categorical(name, list(p.choices))
            elif isinstance(p, IntParam):
                out[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
            else:
                out[name] = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)
        return out

    def order(self) -> list[str]:
        """The searched names, each after the parameters its conditions name (checked acyclic on load)."""
        done: list[str] = []
        while len(done) < len(self.params):
            done += [
                n
                for n, p in self.params.items()
                if n not in done and all(parent in done for parent, _ in p.when)
            ]
        return done

    def first_values(self) -> dict[str, Any]:
        """The first choice or the low end of each parameter that exists then, and the fixed ones:
        what the check before a search builds its network with."""
        out: dict[str, Any] = dict(self.fixed)
        for name in self.order():
            p = self.params[name]
            if holds(p.when, out):
                out[name] = p.choices[0] if isinstance(p, CategoricalParam) else p.low
        return out

    def rows(self) -> list[tuple[str, str]]:
        """(name, description) for display, searched first, then fixed."""
        rows = [(n, p.describe() + describe_when(p.when)) for n, p in self.params.items()]
        return rows + [(n, f"fixed = {v}") for n, v in self.fixed.items()]


def _parse_categorical(
    path: Path, key: str, name: str, choices: Any, checked: bool, when: Condition
) -> CategoricalParam:
    if not isinstance(choices, list) or not choices:
        raise fail(path, key, "'choices' must be a non-empty list")
    for i, choice in enumerate(choices):
        check_choice(path, f"{key}.choices[{i}]", name, choice, checked)
        if isinstance(choice, (dict, list)):
            raise fail(
                path, f"{key}.choices[{i}]", "a choice is a plain value (a number, a name, true/false)"
            )
    if len(set(map(repr, choices))) != len(choices):
        raise fail(path, key, "'choices' has duplicates")
    return CategoricalParam(tuple(choices), when)


def _parse_param(path: Path, name: str, spec: Any, checked: bool) -> Param | None:
    """A searched parameter, or None when ``spec`` is a fixed value.

    ``checked``: ``name`` is one tuner knows (the MLP's, or what tuner compiles and trains
    with), so its type, allowed names and bounds are checked; a user's own is free.
    """
    key = f"params.{name}"
    if not isinstance(spec, dict):
        check_choice(path, key, name, spec, checked)
        return None
    kind = spec.get("type")
    if kind not in TYPES:
        raise fail(path, key, f"unknown type {kind!r}; allowed: {', '.join(TYPES)}")
    allowed_keys = {"choices", "when"} if kind == "categorical" else {"low", "high", "step", "log", "when"}
    extra = set(spec) - allowed_keys - {"type"}
    if extra:
        raise fail(
            path,
            key,
            f"unknown field(s) {', '.join(sorted(map(str, extra)))} for type {kind}; "
            f"allowed: {', '.join(sorted(allowed_keys))}",
        )
    when = parse_when(path, key, spec.get("when"))
    if kind == "categorical":
        return _parse_categorical(path, key, name, spec.get("choices"), checked, when)
    if checked and kind == "int" and TUNABLE[name] is not int:
        raise fail(path, key, f"{name} takes a {TUNABLE[name].__name__}, so type int does not fit")
    if checked and kind == "float" and TUNABLE[name] is not float:
        raise fail(path, key, f"{name} takes a {TUNABLE[name].__name__}, so type float does not fit")
    num = int if kind == "int" else float
    low, high = number(path, key, spec, "low", num), number(path, key, spec, "high", num)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise fail(path, key, f"'log' must be true or false, got {log!r}")
    if low > high:
        raise fail(path, key, f"low ({low}) > high ({high}); swap them")
    if log and low <= 0:
        raise fail(path, key, f"log scale needs low > 0, got low={low}; raise low or drop 'log'")
    if checked:
        check_bounds(path, key, name, low, "low")
        check_bounds(path, key, name, high, "high")
    step = number(path, key, spec, "step", num) if "step" in spec else None
    if step is not None and step <= 0:
        raise fail(path, key, f"'step' must be > 0, got {step}")
    if step is not None and log and step != 1:
        raise fail(path, key, "'step' cannot be combined with log: true")
    if step is not None and high > low and step > high - low:
        # Optuna would search the single value `low`: a search that cannot search.
        raise fail(
            path,
            key,
            f"'step' ({step}) is larger than the range [{low}, {high}], so only {low} could be "
            f"drawn; make step at most {high - low} or widen the range",
        )
    if kind == "int":
        return IntParam(low, high, step or 1, log, when)
    return FloatParam(low, high, log, step, when)


def load_space(path: str | Path, model: str | None = None) -> SearchSpace:
    """Parse and validate a search-space file; raise TunerError naming what is wrong."""
    path = Path(path)
    if not path.exists() and not path.suffix and (SPACES_DIR / f"{path}.yaml").exists():
        path = SPACES_DIR / f"{path}.yaml"  # a shipped space by bare name
    elif not path.exists() and path.parent == Path(".") and (SPACES_DIR / path.name).is_file():
        path = SPACES_DIR / path.name  # or by its file's name: cnn.yaml
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
    return parse_space(text, path, model)


def parse_space(text: str, path: Path, model: str | None = None) -> SearchSpace:
    """A space from its YAML ``text``; ``path`` names it (a worker gets the text from its study).

    ``model`` overrides the file's ``model:`` (``--model``); it decides which names are allowed.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise TunerError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise TunerError(f"{path}: expected a mapping with a 'params' key at the top")
    unknown = set(doc) - set(TOP_KEYS)
    if unknown:
        raise fail(
            path,
            ", ".join(sorted(map(str, unknown))),
            f"unknown top-level key; allowed: {', '.join(TOP_KEYS)}",
        )
    written = doc.get("model", "mlp")
    if not isinstance(written, str) or not written.strip():
        raise fail(
            path, "model", f"expected a name: {', '.join(MODELS)}, file.py:function or module:function"
        )
    model = (model or written).strip()
    raw = doc.get("params")
    if not isinstance(raw, dict) or not raw:
        raise fail(path, "params", "must be a non-empty mapping of parameter name to spec")
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in raw.items():
        _check_name(path, str(name), model)
        checked = name in TUNERS_OWN or (model in MODELS and name in TUNABLE)
        parsed = _parse_param(path, str(name), spec, checked)
        if parsed is None:
            fixed[str(name)] = spec
        else:
            params[str(name)] = parsed
    if not params:
        raise fail(path, "params", "every parameter is fixed; give at least one a type to search")
    check_conditions(path, params)
    description = str(doc.get("description", "")).strip()
    return SearchSpace(path.stem, path, params, fixed, description, text, model)


def _check_name(path: Path, name: str, model: str) -> None:
    """The MLP takes its own names only; every network leaves the data's names to tuner."""
    if name in RESERVED_PARAMS:
        raise fail(
            path,
            f"params.{name}",
            f"{name} is reserved: tuner passes {', '.join(DATA_ARGS)} to the network from the data "
            f"(and sets steps_per_execution itself); remove it from the space",
        )
    if model == "mlp" and name not in TUNABLE:
        raise fail(
            path,
            f"params.{name}",
            f"not a parameter of the mlp network; allowed: {', '.join(TUNABLE)} (another network "
            f"takes other names: set model: in the space, or --model)",
        )


def shipped_spaces() -> list[Path]:
    """The space files that come with tuner."""
    return sorted(SPACES_DIR.glob("*.yaml"))
