"""Jobs: a search as it is run, locally or spread over a scheduler.

``steps`` is a search in three steps (create, work, finish), written once; ``local`` runs
them in a row in one process tree (``tuner search``, :func:`run_search`); ``cluster`` runs
them apart (``tuner study create``, ``tuner worker``, ``tuner study finish``).

May import: views, engines, search, networks, processes, tracking, _compat, and the modules at tuner's top.
"""
