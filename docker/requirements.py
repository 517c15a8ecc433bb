"""Print the image's requirements: tuner's own (from pyproject.toml) with TensorFlow as chosen.

    python docker/requirements.py pyproject.toml "tensorflow[and-cuda]"

tuner depends on ``tensorflow``; the CPU image wants ``tensorflow-cpu`` (no CUDA wheels)
and the GPU image ``tensorflow[and-cuda]``. The choice takes tuner's version bounds unless
it names its own (``tensorflow-cpu==2.21.0``). ``mlflow[auth]`` is added: the same image
runs the tracking server with its ``basic-auth`` app (docker/compose.yaml).
Used by the image's builder stage and by docker/build.sh (the wheelhouse); standard
library only, so it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def requirements(pyproject: str, tensorflow: str) -> list[str]:
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    out = []
    for dep in deps:
        name, _extras, rest = NAME.match(dep).groups()
        key = name.lower().replace("_", "-")
        if key == "tensorflow":
            chosen_name, chosen_extras, chosen_spec = NAME.match(tensorflow).groups()
            out.append(f"{chosen_name}{chosen_extras or ''}{chosen_spec or rest}")
        elif key == "mlflow":
            out.append(f"{name}[auth]{rest}")
        else:
            out.append(dep)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: requirements.py PYPROJECT TENSORFLOW")
    print("\n".join(requirements(sys.argv[1], sys.argv[2])))
