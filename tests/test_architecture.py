"""The shape of the code, checked: who imports whom, who opens runs, how long functions get."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tuner"
MAX_FUNCTION_LINES = 60
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
            upward = {m for m in _imports(tree) if m in ("tuner.search", "tuner.cli")}
            assert not upward, f"{path} imports {upward}"


def test_the_search_module_knows_no_engine():
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
