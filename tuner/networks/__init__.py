"""The networks a search can train: the shipped families and a user's own build function, one contract.

A build function takes the sampled hyperparameters by name, plus what tuner knows of the
data (``task``, ``input_shape``, ``n_outputs``) when it asks for them, and returns an
*uncompiled* Keras model whose output fits the task; tuner compiles it (``compiling``).
``mlp``, ``wide_deep`` and ``cnn`` are written against that contract, as a user's
function is; ``reference`` names, finds, hashes and loads a function, once per process;
``contract`` checks a space and a built model against it before anything is written.

May import: processes, _compat, and the modules at tuner's top.
"""
