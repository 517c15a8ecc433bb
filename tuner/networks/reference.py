"""Which network a search trains: a shipped family's name, or the user's own build function.

A space names its model (``model: cnn``, ``model: models/net.py:build``, ``model:
mypackage.nets:build``) and ``--model`` overrides it. A :class:`ModelRef` carries the
name as written, the file that defines the function and a hash of the whole file (a
custom layer may sit beside the function). Processes pass the reference, never the
function: each loads it once from its own copy, and a copy whose hash differs from the
study's is refused. Only a function object that no path can find (a lambda, a notebook
cell, given to the Python API) travels by value, for a local search alone.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tuner.errors import TunerError

FAMILIES = {
    "mlp": "tuner.networks.mlp:build_mlp",
    "wide_deep": "tuner.networks.wide_deep:build_wide_deep",
    "cnn": "tuner.networks.cnn:build_cnn",
}
DEFAULT = "mlp"
ROOT_ENV = "TUNER_MODEL_ROOT"  # where a worker finds a model file named by a relative path
IN_MEMORY = "<in memory>"

_loaded: dict[tuple[str, str | None], Callable[..., Any]] = {}  # once per process


@dataclass(frozen=True)
class ModelRef:
    """A build function by name: ``spec`` as written, its ``file`` and the file's ``sha256``."""

    spec: str = DEFAULT
    file: str | None = None  # absolute; None for a shipped family
    sha256: str | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def shipped(self) -> bool:
        return self.spec in FAMILIES

    @property
    def locatable(self) -> bool:
        """Whether another process (a cluster worker) can find the function by its path."""
        return not self.spec.startswith(IN_MEMORY)

    @property
    def identity(self) -> str:
        """What makes two references the same network: the name and the file's content."""
        return f"{self.spec}@{self.sha256 or ''}"

    def load(self) -> Callable[..., Any]:
        """The build function, loaded once per process; a file that changed since it was hashed is refused."""
        if self.function is not None:
            return self.function
        key = (self.spec, self.sha256)
        if key not in _loaded:
            _loaded[key] = _load(self)
        return _loaded[key]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its path and hash; a function object only when no path can find it."""
        state = {"spec": self.spec, "file": self.file, "sha256": self.sha256, "function": None}
        if self.function is not None and not self.locatable:
            import cloudpickle  # comes with MLflow

            state["function"] = cloudpickle.dumps(self.function)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("function"), bytes):
            import cloudpickle

            state = {**state, "function": cloudpickle.loads(state["function"])}
        for name, value in state.items():
            object.__setattr__(self, name, value)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_root(root: str | None = None) -> Path:
    """Where relative model paths start: ``root``, else ``$TUNER_MODEL_ROOT``, else the working folder."""
    return Path(root or os.environ.get(ROOT_ENV) or os.getcwd())


def resolve(model: str | Callable[..., Any] | None, root: str | None = None) -> ModelRef:
    """A reference to ``model``: a family's name, ``file.py:function``, ``module:function`` or a function."""
    if model is None:
        return ModelRef()
    if callable(model):
        return _from_function(model, root)
    spec = str(model).strip()
    if spec in FAMILIES:
        return ModelRef(spec)
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise TunerError(
            f"unknown model {spec!r}: give a shipped one ({', '.join(FAMILIES)}), "
            f"path/to/file.py:function or package.module:function"
        )
    if where.endswith(".py"):
        path = Path(where)
        path = path if path.is_absolute() else model_root(root) / path
        if not path.is_file():
            raise TunerError(
                f"model file not found: {path} (from {spec!r}; relative paths start at "
                f"--model-root, ${ROOT_ENV} or the working folder)"
            )
        return ModelRef(spec, str(path.resolve()), file_sha256(path))
    with _importable_from(root):
        try:
            found = importlib.util.find_spec(where)
        except (ImportError, ValueError) as exc:
            raise TunerError(f"model {spec!r}: cannot import {where}: {exc}") from None
    if found is None or not found.origin or not os.path.isfile(found.origin):
        raise TunerError(
            f"model {spec!r}: no module named {where!r} (install it, or put it under --model-root, "
            f"${ROOT_ENV} or the working folder; a file works as path/to/file.py:{name})"
        )
    return ModelRef(spec, found.origin, file_sha256(found.origin))


def _from_function(function: Callable[..., Any], root: str | None) -> ModelRef:
    """A function object: by its module or file where one can find it again, else in memory."""
    for family, target in FAMILIES.items():
        module, name = target.split(":")
        if getattr(function, "__module__", None) == module and function.__name__ == name:
            return ModelRef(family)
    qualname, module = getattr(function, "__qualname__", ""), getattr(function, "__module__", None)
    source = getattr(sys.modules.get(module or ""), "__file__", None)
    if "<" in qualname or not source or not qualname:  # a lambda, a nested function, a notebook
        return ModelRef(f"{IN_MEMORY}:{qualname or function!r}", function=function)
    if module == "__main__" or not _importable(module or ""):  # a script, or a file outside sys.path
        return replace(resolve(f"{Path(source).resolve()}:{qualname}", root), function=function)
    return ModelRef(f"{module}:{qualname}", str(Path(source).resolve()), file_sha256(source), function)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def _importable_from(root: str | None) -> Iterator[None]:
    """``package.module`` names found under the model root too (a project's own folder)."""
    folder = str(model_root(root))
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _load(ref: ModelRef) -> Callable[..., Any]:
    if ref.shipped:
        module, name = FAMILIES[ref.spec].split(":")
        return getattr(importlib.import_module(module), name)
    where, _, name = ref.spec.rpartition(":")
    if ref.file and ref.sha256 and file_sha256(ref.file) != ref.sha256:
        raise TunerError(
            f"{ref.file} differs from the copy the study was made with (sha256 {file_sha256(ref.file)[:12]} "
            f"here, {ref.sha256[:12]} in the study): give every worker the same file"
        )
    module = _exec_file(ref) if where.endswith(".py") else _import_module(where, ref.file)
    function: Any = module
    for part in name.split("."):
        function = getattr(function, part, None)
        if function is None:
            defined = sorted(
                n
                for n, v in vars(module).items()
                if inspect.isfunction(v) and not n.startswith("_") and v.__module__ == module.__name__
            )  # its own: not the ones it imports
            raise TunerError(
                f"{ref.spec}: {where} has no function {name!r} (it defines: {', '.join(defined) or 'none'})"
            )
    if not inspect.isfunction(function) and not inspect.ismethod(function):
        raise TunerError(f"{ref.spec}: {name} is a {type(function).__name__}, not a function")
    return function


def _exec_file(ref: ModelRef) -> Any:
    """Run a model file as a module of its own (under a name of its content, so it runs once)."""
    path = Path(ref.file or "")
    source = path.read_bytes()
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise TunerError(f"{path}:{exc.lineno}: syntax error in the model file: {exc.msg}") from None
    module_name = f"tuner_model_{path.stem}_{(ref.sha256 or '')[:12]}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - the user's own model file, as importing it would
    except Exception as exc:
        del sys.modules[module_name]
        line = _user_line(exc, str(path))
        raise TunerError(f"{path}{line}: running the model file raised {type(exc).__name__}: {exc}") from None
    return module


def _import_module(name: str, file: str | None) -> Any:
    """Import ``name`` from the folder it was found in (``--model-root`` is not set in a worker's environment)."""
    depth = name.count(".") + (file is not None and Path(file).name == "__init__.py")
    with _importable_from(str(Path(file).parents[depth]) if file else None):
        try:
            return importlib.import_module(name)
        except SyntaxError as exc:
            raise TunerError(
                f"{exc.filename}:{exc.lineno}: syntax error in the model's module: {exc.msg}"
            ) from None
        except ImportError as exc:
            raise TunerError(f"cannot import the model's module {name!r}: {exc}") from None


def _user_line(exc: BaseException, filename: str) -> str:
    """``:N``, the line of ``filename`` where ``exc`` was raised, when it was raised there."""
    tb, line = exc.__traceback__, ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def resolve_recorded(spec: str, sha256: str | None, root: str | None = None) -> ModelRef:
    """The study's model, found in this worker's own copy: refused when the copy differs."""
    if spec.startswith(IN_MEMORY):
        raise TunerError(
            f"the study's model {spec!r} was a function object that only its own process had: "
            f"create the study with --model path/to/file.py:function"
        )
    ref = resolve(spec, root)
    if sha256 and ref.sha256 != sha256:
        raise TunerError(
            f"this worker's {ref.file} differs from the study's model file (sha256 {str(ref.sha256)[:12]} here, "
            f"{sha256[:12]} in the study): give every worker the same file (built into the image, or on "
            f"the shared file system under ${ROOT_ENV})"
        )
    return ref
