"""One search's parts, shared by every engine and every job.

``context`` (a search's inputs, prepared once per process), ``parent_run`` (the search's
MLflow run), ``progress`` (trial n/N, best, ETA), ``finish`` (re-check, refit, test, log),
``outcomes`` (what trials and searches leave behind: the result types), ``timing`` (where
a search's time goes).

May import: shipping, trial, networks, data, tracking, and the modules at tuner's top.
"""
