"""What a study records for tuner, in one type: written at create, read by every worker.

The create step writes into the study everything a worker needs besides the study's
name and storage (the settings, the space's YAML, the data's fingerprint, where the
parent run is, the library versions), so a worker needs nothing else. The names of
these attributes are the stored format: they stay as they are, and a format number
is recorded from format 2 on (a study without one is format 1, read the same way).
Study attributes are read and written only here.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from tuner.config import SearchConfig
from tuner.distribution import NAMES
from tuner.errors import TunerError
from tuner.redact import redact
from tuner.space import SearchSpace, parse_space
from tuner.tracking.runs import RunTarget

FORMAT = 2  # 1: studies created before the format was numbered (same attributes)
FORMAT_ATTR = "tuner.format"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
CONFIG_ATTR = "tuner.config"
SPACE_ATTR = "tuner.space"
TRACKING_ATTR = "tuner.tracking"  # tracking URI and experiment id of the parent run
FINGERPRINT_ATTR = "tuner.data_fingerprint"
MODEL_ATTR = "tuner.model"  # the network's name and its file's hash: a worker's copy must match
VERSIONS_ATTR = "tuner.versions"  # a worker with other versions is refused
HOST_ATTR = "tuner.storage_host"  # a local-file storage's machine: no worker elsewhere
RESULT_ATTR = "tuner.result"  # what the finish step returned, for a second `study finish`
FINISH_ATTR = "tuner.finish"  # who runs the finish step, and its last heartbeat
WORKER_PREFIX = "tuner.worker:"  # one attribute per worker process seen (tuner.engines.optuna.heartbeats)
# A trial's own attributes.
RUN_ATTR = "mlflow_run_id"  # the trial's MLflow run
REASON_ATTR = "fail_reason"
BEST_EPOCH_ATTR = "best_epoch"
TIMING_ATTR = "timing"
REQUEUED_ATTR = "tuner.requeued_from"  # a lost or interrupted trial's parameters, queued again
RETRIES_ATTR = "tuner.retries"  # how often these parameters were queued again
VERSIONED = {
    "tuner": NAMES,  # the distribution, under its name or the one before the rename
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
    "keras": ("keras",),
}

Attrs = dict[str, Any]


def study_versions() -> dict[str, str]:
    """The versions a worker must share with the study: a trial's outcome depends on them."""
    versions = {}
    for lib, dists in VERSIONED.items():
        for dist in dists:
            try:
                versions[lib] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def recorded_settings(config: SearchConfig) -> dict[str, Any]:
    """The settings as the study records them: no storage URL and no model root (each worker has
    its own: $TUNER_STORAGE, $TUNER_MODEL_ROOT)."""
    return {
        **config.to_dict(),
        "storage": None,
        "model_root": None,
        "show_progress": False,
        "tracking_uri": redact(config.tracking_uri),
    }


@dataclass(frozen=True)
class StudyRecord:
    """What one study records for its workers (never a password)."""

    settings: dict[str, Any]
    space_name: str
    space_text: str
    fingerprint: str
    tracking_uri: str  # redacted
    experiment_id: str
    parent_run_id: str
    versions: dict[str, str] = field(default_factory=dict)
    host: str | None = None  # set for a study in a local file
    model: str | None = None  # the network's spec; None for a study made before models had names (mlp)
    model_sha256: str | None = None
    format: int = FORMAT

    @classmethod
    def new(
        cls,
        config: SearchConfig,
        space: SearchSpace,
        fingerprint: str,
        search_run: RunTarget,
        local: bool,
        model_sha256: str | None = None,
    ) -> StudyRecord:
        return cls(
            model=space.model,
            model_sha256=model_sha256,
            settings=recorded_settings(config),
            space_name=space.name,
            space_text=space.text,
            fingerprint=fingerprint,
            tracking_uri=redact(search_run.tracking_uri) or "",
            experiment_id=search_run.experiment_id,
            parent_run_id=search_run.search_run_id,
            versions=study_versions(),
            host=socket.gethostname() if local else None,
        )

    def write(self, study: optuna.Study) -> None:
        study.set_user_attr(FORMAT_ATTR, self.format)
        study.set_user_attr(CONFIG_ATTR, self.settings)
        study.set_user_attr(SPACE_ATTR, {"name": self.space_name, "text": self.space_text})
        study.set_user_attr(FINGERPRINT_ATTR, self.fingerprint)
        study.set_user_attr(TRACKING_ATTR, [self.tracking_uri, self.experiment_id])
        study.set_user_attr(PARENT_RUN_ATTR, self.parent_run_id)
        study.set_user_attr(VERSIONS_ATTR, self.versions)
        study.set_user_attr(MODEL_ATTR, {"spec": self.model, "sha256": self.model_sha256})
        if self.host:
            study.set_user_attr(HOST_ATTR, self.host)

    @classmethod
    def read(cls, study: optuna.Study) -> StudyRecord:
        """The study's record; a study tuner did not create is refused."""
        attrs = study.user_attrs
        if not is_tuners(attrs):
            raise TunerError(f"study {study.study_name!r} was not created by tuner: it records no settings")
        uri, experiment_id = attrs[TRACKING_ATTR]
        return cls(
            settings=attrs[CONFIG_ATTR],
            space_name=attrs[SPACE_ATTR]["name"],
            space_text=attrs[SPACE_ATTR]["text"],
            fingerprint=attrs[FINGERPRINT_ATTR],
            tracking_uri=uri,
            experiment_id=experiment_id,
            parent_run_id=attrs[PARENT_RUN_ATTR],
            versions=attrs.get(VERSIONS_ATTR, {}),
            host=attrs.get(HOST_ATTR),
            format=attrs.get(FORMAT_ATTR, 1),
            model=attrs.get(MODEL_ATTR, {}).get("spec"),
            model_sha256=attrs.get(MODEL_ATTR, {}).get("sha256"),
        )

    def config(self, tracking_uri: str | None = None) -> SearchConfig:
        """The study's settings as a config; trials log to ``tracking_uri`` if given."""
        known = {f.name for f in fields(SearchConfig)}
        config = SearchConfig(**{k: v for k, v in self.settings.items() if k in known})
        config.tracking_uri = tracking_uri or self.tracking_uri
        return config

    def space(self) -> SearchSpace:
        """The study's space, with the network it was made with (a study that names none: the file's, mlp)."""
        return parse_space(self.space_text, Path(f"{self.space_name}.yaml"), self.model)

    def search_run(self, tracking_uri: str | None = None) -> RunTarget:
        """Where the study's trials log: children of its parent run."""
        uri, run_id = tracking_uri or self.tracking_uri, self.parent_run_id
        return RunTarget(uri, self.experiment_id, run_id, "", "search", run_id)

    def differences(
        self,
        config: SearchConfig,
        space: SearchSpace,
        fingerprint: str,
        may_differ: tuple[str, ...],
        model_sha256: str | None = None,
    ) -> list[str]:
        """How ``config``, ``space`` and the data differ from this record, one phrase each.

        A setting the study does not record (added to tuner after it was created) is
        compared with its default.
        """
        recorded, given = self.settings, recorded_settings(config)
        defaults = recorded_settings(SearchConfig())
        found = [
            f"{key} {recorded.get(key, defaults.get(key))!r} (study) vs {given.get(key)!r} (given)"
            for key in sorted(set(recorded) | set(given))
            if key not in (*may_differ, "model") and recorded.get(key, defaults.get(key)) != given.get(key)
        ]
        model = self.model or self.space().model  # what the study trains, compared as the space is
        if model != space.model:
            found.append(f"the model {model!r} (study) vs {space.model!r} (given)")
        elif self.model_sha256 != model_sha256:
            found.append(f"the model's file {model!r} (changed since the study was made)")
        if self.space_text != space.text:
            found.append(f"the space ({self.space_name!r} in the study)")
        if self.fingerprint != fingerprint:
            found.append(f"the data (fingerprint {self.fingerprint} in the study, {fingerprint} given)")
        return found


def is_tuners(attrs: Attrs) -> bool:
    """Whether a study's attributes are a tuner study's."""
    return CONFIG_ATTR in attrs


def settings_of(attrs: Attrs) -> dict[str, Any]:
    """The recorded settings, or none for a study tuner did not create."""
    return attrs.get(CONFIG_ATTR, {})


def stored_result(attrs: Attrs) -> str | None:
    """The finish step's result (JSON), once ``study finish`` has run."""
    return attrs.get(RESULT_ATTR)


def store_result(study: optuna.Study, result_json: str) -> None:
    study.set_user_attr(RESULT_ATTR, result_json)


def worker_records(attrs: Attrs) -> dict[str, dict]:
    """Every worker process's record, by worker id."""
    return {k.removeprefix(WORKER_PREFIX): v for k, v in attrs.items() if k.startswith(WORKER_PREFIX)}


def write_worker_record(study: optuna.Study, worker_id: str, record: dict) -> None:
    study.set_user_attr(WORKER_PREFIX + worker_id, record)


def finish_claim(attrs: Attrs) -> dict | None:
    """Who holds the finish lock (:mod:`tuner.engines.optuna.finish_lock`), and since when it beat."""
    return attrs.get(FINISH_ATTR)


def write_finish_claim(study: optuna.Study, claim: dict) -> None:
    study.set_user_attr(FINISH_ATTR, claim)
