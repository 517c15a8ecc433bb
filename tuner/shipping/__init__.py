"""Shipping: the returned model, logged, exported, registered and put to use.

``export`` (the model folder: Keras' format, skops and JSON, no pickle), ``mlflow_model``
(that folder logged as an MLflow pyfunc "from code"), ``publish`` (``tuner export`` and
registering), ``registry`` (registered models and their champion), ``predict``
(``tuner predict``). What a model needs at prediction time lives in :mod:`tuner.serving`,
which ships with the model and imports nothing of tuner's.

May import: trial, networks, data, tracking, processes, serving, _compat, and the modules at tuner's top.
"""
