"""Build functions as a user writes them in a model file: one that works, and each kind of mistake.

Each constant is the text of a whole file; tests write it into their working folder and
name it as a user does (``--model net.py:build``). ``build`` needs ``width`` and takes
the data's facts by keyword; the others break the contract one way each.
"""

from __future__ import annotations

HEADER = "import keras\nfrom tuner import output_layer\n\n\n"

GOOD = (
    HEADER
    + """def build(width, depth=1, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for _ in range(depth):
        x = keras.layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, output_layer(task, n_outputs)(x))


def _helper():
    return None


NOT_A_FUNCTION = 3


class Net:
    pass
"""
)

RAISES = (
    HEADER
    + """def build(width, *, task):
    raise ValueError(f"width {width} is too odd")
"""
)

NOT_A_MODEL = (
    HEADER
    + """def build(width):
    return {"layers": width}
"""
)

WRONG_SHAPE = (
    HEADER
    + """def build(width, *, input_shape):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(inputs))
"""
)

NO_SOFTMAX = (
    HEADER
    + """def build(width, *, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(n_outputs)(inputs))
"""
)

LAMBDA = (
    HEADER
    + """def build(width, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Lambda(lambda t: t * 2, name="doubler")(inputs)
    return keras.Model(inputs, output_layer(task, n_outputs)(x))
"""
)

CUSTOM_LAYER = """class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2


def build(width, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, output_layer(task, n_outputs)(Doubler()(inputs)))
"""
UNREGISTERED_LAYER = HEADER + CUSTOM_LAYER
REGISTERED_LAYER = HEADER + '@keras.saving.register_keras_serializable(package="tests")\n' + CUSTOM_LAYER

SYNTAX_ERROR = "import keras\n\ndef build(width:\n    return width\n"  # line 3
RAISES_ON_IMPORT = 'import os\n\nraise RuntimeError("no GPU on this laptop")\n'  # line 3


def counting(counter: str) -> str:
    """A good model file that appends a line to ``counter`` each time it runs."""
    return f"with open({counter!r}, 'a') as _f:\n    _f.write('ran\\n')\n\n" + GOOD
