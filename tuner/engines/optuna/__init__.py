"""The Optuna engine, one concept per module (as Optuna lays out its own packages).

* ``engine``: :class:`OptunaEngine`, what the search steps ask of it;
* ``record``: what a study records for its workers (the one reader and writer of study attributes);
* ``study``: joining a study, checking who may join it, reading its trials back;
* ``storage``: a storage URL checked and opened; ``retrying``: RDB calls that wait out an outage;
* ``lost``: trials whose worker is gone, failed and queued again; ``heartbeats``: the workers seen,
  and when each last gave a sign of life;
* ``worker``: one worker's trials; ``supervisor``: a pool's workers watched
  (the pool itself is generic: :mod:`tuner.processes.pool`);
* ``factories``: samplers and pruners by name.
"""
