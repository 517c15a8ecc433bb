"""The trial unit: parameters in, a fitted Keras model, its curves and its score out.

``estimator`` is the scikeras estimator whose ``fit`` is one recorded trial, and every
engine calls it; ``network`` builds the Keras model from the hyperparameters;
``callbacks`` (per-epoch logging, timing, pruning), ``targets`` (scaled regression
targets), ``metrics`` (the score a search optimises), ``batch_stream`` (the rows as a fit
reads them), ``model_reuse`` (a traced model kept for the next fit of the same network).

May import: networks, processes, tracking, serving, _compat, and the modules at tuner's top.
"""
