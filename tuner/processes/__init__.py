"""Processes: the worker processes trials run in, and TensorFlow's set-up in each.

``pool`` (warm worker processes with a shared trial budget), ``fork_server`` (workers
forked from a server that imported TensorFlow once), ``preload`` (what that server
imports), ``gpus`` (one GPU per worker, thread budgets), ``tensorflow_env`` (Keras
imported once, quietly), ``quiet`` (TensorFlow's start-up notices kept off the terminal),
``worker_id`` (how runs and trials name a worker process).

May import: _compat, and the modules at tuner's top.
"""
