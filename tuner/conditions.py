"""Conditional parameters: ``when: {optimizer: [momentum, nesterov]}`` samples a parameter only
while its parents have drawn one of the values named.

Optuna asks for a parameter only when its conditions hold (define-by-run); the random
engine draws from one grid per value of the parents (:meth:`tuner.space.SearchSpace.to_distributions`).
A parameter that was not drawn is absent from the trial, not zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuner.param_checks import fail

# (parent, the values that make this parameter exist), for each parent; all must hold.
Condition = tuple[tuple[str, tuple], ...]
MAX_GRIDS = 1000  # the random engine draws from one grid per combination of the parents' values


def holds(when: Condition, values: dict[str, Any]) -> bool:
    """Whether each parent in ``when`` has drawn one of the values it names."""
    return all(parent in values and values[parent] in allowed for parent, allowed in when)


def describe_when(when: Condition) -> str:
    if not when:
        return ""
    return ", when " + " and ".join(f"{parent} in {list(allowed)}" for parent, allowed in when)


def parse_when(path: Path, key: str, when: Any) -> Condition:
    """``when: {parent: [values]}`` as written; checked against the parents once all are read."""
    if when is None:
        return ()
    if not isinstance(when, dict) or not when:
        raise fail(
            path, f"{key}.when", "expected a mapping of parameter to its values, e.g. {optimizer: [nesterov]}"
        )
    out = []
    for parent, values in when.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise fail(path, f"{key}.when.{parent}", "give at least one value")
        out.append((str(parent), tuple(values)))
    return tuple(out)


def check_conditions(path: Path, params: dict[str, Any]) -> None:
    """Each ``when:`` names a searched parameter with countable values, values it can draw, and no circle."""
    for name, p in params.items():
        for parent, values in p.when:
            key = f"params.{name}.when.{parent}"
            found = params.get(parent)
            if found is None:
                raise fail(
                    path,
                    key,
                    f"{parent!r} is not a searched parameter of this space; known: {', '.join(params)}",
                )
            if not hasattr(found, "values"):  # a float range has no values to name
                raise fail(
                    path, key, f"{parent} is a float; a condition needs a categorical or int parameter"
                )
            drawable = found.values()
            wrong = [v for v in values if v not in drawable]
            if wrong:
                raise fail(
                    path,
                    key,
                    f"{parent} never draws {wrong[0]!r}; it draws {', '.join(map(str, drawable[:20]))}",
                )
    parents = {parent for p in params.values() for parent, _ in p.when}
    grids = 1
    for parent in parents:
        grids *= len(params[parent].values())
    if grids > MAX_GRIDS:
        raise fail(
            path,
            "params",
            f"conditions on {', '.join(sorted(parents))} give {grids} combinations of their values, and the "
            f"random engine draws from one grid per combination (at most {MAX_GRIDS}): condition on "
            f"fewer values, such as a categorical choice",
        )
    for name in params:
        circle = _circle(params, [name])
        if circle:
            raise fail(path, f"params.{name}.when", f"circular condition: {' -> '.join(circle)}")


def _circle(params: dict[str, Any], chain: list[str]) -> list[str] | None:
    """A chain of parents from ``chain`` back into itself, through any parent (not only the first)."""
    for parent, _ in params[chain[-1]].when:
        if parent in chain:
            return [*chain, parent]
        found = _circle(params, [*chain, parent])
        if found:
            return found
    return None
