"""The shape of the code, checked through the syntax tree: which folder imports which, who opens
runs, who starts the fork server, how long functions and modules get, and names that explain
themselves."""

from __future__ import annotations

import ast
import functools
import re

from paths import REPO

PACKAGE = REPO / "tuner"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
MAX_TOP_MODULES = 12  # besides __init__ and __main__: what every part uses
# Leaf modules: names and errors, which import nothing of tuner's.
LEAVES = {"tuner.choices", "tuner.errors"}
RUN_LIFECYCLE = {"create_run", "start_run", "end_run", "set_terminated"}
TOP = "the modules at tuner's top"


@functools.cache
def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(REPO)): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
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
        found = {resolve(m) for m in _imports(tree) if m.split(".")[0] == "tuner"}
        graph[name] = {m for m in found if m and m != name and m != "tuner"}
    return graph


def _folder(module: str) -> str | None:
    """The concept folder a module lives in (``tuner.trial.estimator``: ``trial``); None at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def _declared() -> dict[str, set[str]]:
    """Each folder's ``May import:`` line, from its ``__init__`` docstring."""
    declared = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        line = re.search(r"^May import: (.*)$", doc, re.MULTILINE)
        assert line, f"{init.relative_to(REPO)}: its docstring says what the folder may import"
        text = line.group(1).rstrip(".").replace(TOP, "").replace("nothing of tuner's", "")
        declared[init.parent.name] = {f.strip() for f in re.split(r",| and ", text) if f.strip()}
    return declared


def test_each_folder_imports_only_what_its_docstring_declares():
    declared = _declared()
    wrong = []
    for module, deps in _import_graph().items():
        folder = _folder(module)
        if folder is None:
            continue
        may_top = folder != "serving"
        for dep in deps:
            target = _folder(dep)
            allowed = target == folder or target in declared[folder] or (target is None and may_top)
            if not allowed:
                wrong.append(f"{module} -> {dep}")
    assert not wrong, wrong


def test_the_declared_folders_point_down_only():
    declared = _declared()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in declared.get(start, ())
        )

    assert set().union(*declared.values()) <= set(declared), "a declared folder that does not exist"
    circles = sorted(f for f in declared if reaches(f, f, set()))
    assert not circles, f"folders that reach themselves: {circles}"


def test_the_top_of_the_package_holds_only_what_every_part_uses():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    for module in top:  # they import only each other: every folder may use them
        deps = _import_graph()[f"tuner.{module.removesuffix('.py')}"]
        assert all(_folder(d) is None for d in deps), f"{module} imports {deps}"


def test_no_two_neighbours_differ_only_by_a_plural_or_a_suffix():
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        names = sorted(
            p.stem for p in folder.iterdir() if p.suffix == ".py" or (p.is_dir() and p.name != "__pycache__")
        )
        names = [n for n in names if n not in ("__init__", "__main__")]
        clashes = [(a, b) for a in names for b in names if a != b and (b == a + "s" or b.startswith(a + "_"))]
        assert not clashes, f"{folder.relative_to(REPO)}: {clashes}"


def test_no_engine_imports_the_jobs_the_views_or_the_cli():
    for module, deps in _import_graph().items():
        if module.startswith("tuner.engines"):
            upward = {d for d in deps if _folder(d) in ("jobs", "views", "cli")}
            assert not upward, f"{module} imports {upward}"


def test_the_search_steps_know_no_engine():
    """The generic steps import the engine table and the engine contract only, not one engine's
    module (not even under TYPE_CHECKING), nor Optuna, and branch on no engine's name."""
    generic = {"tuner.engines", "tuner.engines.base"}
    graph = _import_graph()
    for path in ("tuner/jobs/steps.py", "tuner/jobs/local.py"):
        tree = _modules()[path]
        engines = {m for m in graph[_module_name(path)] if m.startswith("tuner.engines")} - generic
        assert not engines, f"{path} imports {engines}"
        assert not {m for m in _imports(tree) if m.split(".")[0] == "optuna"}, f"{path} imports Optuna"
        compared = {
            c.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            for c in [node.left, *node.comparators]
            if isinstance(c, ast.Constant)
        }
        assert not compared & {"optuna", "random"}, f"{path}: no branch on the engine's name"


def test_runs_are_opened_and_closed_only_by_the_runs_module():
    for path, tree in _modules().items():
        if path == "tuner/tracking/runs.py":
            continue
        called = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not called & RUN_LIFECYCLE, f"{path} calls {called & RUN_LIFECYCLE}"


def test_one_place_alone_decides_whether_the_fork_server_starts():
    callers = sorted(
        path
        for path, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "start_early"
    )
    assert callers == ["tuner/engines/__init__.py"], callers


def test_the_pooled_engines_are_those_with_a_pool():
    from tuner.config import SearchConfig
    from tuner.engines import ENGINE_CLASSES, POOLED, make_engine

    for name in ENGINE_CLASSES:
        engine = make_engine(SearchConfig(engine=name, n_jobs=1))
        assert (engine.pool_size > 0) == (name in POOLED), name


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

    from tuner.cli.search import search
    from tuner.config import SearchConfig

    options = {p.name: p for p in search.params}
    for f in fields(SearchConfig):
        if not f.metadata["cli"]:
            continue
        assert f.name in options, f"no --{f.name.replace('_', '-')} option"
        assert options[f.name].default == f.default
        if f.metadata["choices"]:
            assert tuple(options[f.name].type.choices) == f.metadata["choices"]


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
    assert not {m for m in graph["tuner.trial.estimator"] if m.startswith("tuner.engines")}
    assert graph["tuner.config"] <= LEAVES, graph["tuner.config"]
    for leaf in LEAVES:
        assert not graph[leaf], f"{leaf} is a leaf"


def test_no_module_is_longer_than_400_lines():
    long = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert not {path: n for path, n in long.items() if n > MAX_MODULE_LINES}


def test_every_module_has_a_test_file_or_a_line_in_the_tests_readme():
    listed = (REPO / "tests" / "README.md").read_text()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        relative = path.relative_to(PACKAGE)
        own = REPO / "tests" / relative.parent / f"test_{path.name}"
        if not own.exists() and f"`{relative}`" not in listed:
            missing.append(str(relative))
    assert not missing, f"no tests/X/test_y.py and no line in tests/README.md: {missing}"
