"""Tracking: MLflow, where every run of a search is recorded.

``store`` (the tracking URI, its client, experiments), ``runs`` (the one state machine
every run goes through: the only module that opens and closes runs), ``lookup`` (finding
a search's runs again), ``reachability`` (a store checked at start), ``failures`` (what a
failed trial means: its own outcome, a bug, or a lost service).

May import: the modules at tuner's top.
"""
