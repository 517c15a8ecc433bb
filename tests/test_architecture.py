"""The shape of the code, checked: who imports whom, who opens runs, how long functions get."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tuner"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
# Leaf modules: names and errors, which import nothing of tuner's.
LEAVES = {"tuner.choices", "tuner.errors"}
RUN_LIFECYCLE = {"create_run", "start_run", "end_run", "set_terminated"}


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE.parent)): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_engine_imports_upward():
    for path, tree in _modules().items():
        if path.startswith("tuner/engines/"):
            upward = {
                m
                for m in _imports(tree)
                if m in ("tuner.search", "tuner.cli", "tuner.steps", "tuner.cluster")
            }
            assert not upward, f"{path} imports {upward}"


def test_the_search_steps_know_no_engine():
    for path in ("tuner/search.py", "tuner/steps.py"):
        tree = _modules()[path]
        source = ast.unparse(tree)
        assert "'optuna'" not in source and "'random'" not in source, (
            f"{path}: no branch on the engine's name"
        )
    tree = _modules()["tuner/search.py"]
    assert not {m for m in _imports(tree) if m.split(".")[0] == "optuna"}
    source = ast.unparse(tree)
    assert "'optuna'" not in source and "'random'" not in source, "no branch on the engine's name"


def test_runs_are_opened_and_closed_only_by_the_tracking_module():
    for path, tree in _modules().items():
        if path == "tuner/tracking.py":
            continue
        called = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not called & RUN_LIFECYCLE, f"{path} calls {called & RUN_LIFECYCLE}"


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring does not count
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{path}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
        for path, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and _body_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_the_cli_options_are_the_config_fields():
    from dataclasses import fields

    from tuner.commands.search import search
    from tuner.config import SearchConfig

    options = {p.name: p for p in search.params}
    for f in fields(SearchConfig):
        if not f.metadata["cli"]:
            continue
        assert f.name in options, f"no --{f.name.replace('_', '-')} option"
        assert options[f.name].default == f.default
        if f.metadata["choices"]:
            assert tuple(options[f.name].type.choices) == f.metadata["choices"]


def _module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Who imports whom among tuner's modules: every import, at the top, under TYPE_CHECKING
    or inside a function (an import deferred for speed is still an arrow)."""
    trees = {_module_name(path): tree for path, tree in _modules().items()}

    def resolve(name: str) -> str | None:
        while name and name not in trees:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tuner"):
                found.add(resolve(node.module))
                found.update(
                    f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in trees
                )
            elif isinstance(node, ast.Import):
                found.update(resolve(a.name) for a in node.names if a.name.startswith("tuner"))
        graph[name] = {m for m in found if m and m != name and m != "tuner"}
    return graph


def test_no_module_imports_a_module_that_imports_it_back():
    graph = _import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph.get(current, ()))
        return False

    circles = sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps if reaches(b, a))
    assert not circles, circles


def test_the_trial_unit_knows_no_engine_and_the_settings_only_leaves():
    graph = _import_graph()
    assert not {m for m in graph["tuner.estimator"] if m.startswith("tuner.engines")}
    assert graph["tuner.config"] <= LEAVES, graph["tuner.config"]
    for leaf in LEAVES:
        assert not graph[leaf], f"{leaf} is a leaf"


def test_no_module_is_longer_than_400_lines():
    long = {path: len(p.read_text().splitlines()) for path, p in _paths().items()}
    assert not {path: n for path, n in long.items() if n > MAX_MODULE_LINES}


def _paths() -> dict[str, Path]:
    return {str(p.relative_to(PACKAGE.parent)): p for p in PACKAGE.rglob("*.py")}
