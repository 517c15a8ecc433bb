"""The Optuna engine, one concept per module (as Optuna lays out its own packages).

* ``engine``: :class:`OptunaEngine`, what the search steps ask of it;
* ``record``: what a study records for its workers (the one reader and writer of study attributes);
* ``study``: joining a study, checking who may join it, reading its trials back;
* ``storage``: a storage URL checked and opened; ``retrying``: RDB calls that wait out an outage;
* ``lost``: trials whose worker is gone, failed and queued again; ``worker_registry``: the workers seen;
* ``pool``: warm worker processes; ``worker``: one worker's trials; ``supervisor``: the pool watched;
* ``factories``: samplers and pruners by name.
"""
