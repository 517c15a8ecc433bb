"""Data: where ``--data`` comes from, what it must be, and how its rows are split.

``dataset`` (the :class:`~tuner.data.dataset.Dataset` a search runs on, loaded once per
process), ``sources`` (bundled datasets, CSV, Parquet, NPZ), ``checks`` (targets and
features), ``splits`` (train, validation and test rows).

May import: processes, and the modules at tuner's top.
"""
