"""deploy/slurm on a real one-node Slurm: the array of workers, the dependent finish, scancel.

A fixture starts munged, slurmctld and slurmd (Debian's slurm-wlm; .ci/stages/slurm.sh installs
it) with a configuration written at run time, and stops them at the end. The scripts run as
a user would run them: `deploy/slurm/submit.sh 2 <create options>` with TUNER_STORAGE (a fresh
PostgreSQL database per test) and MLFLOW_TRACKING_URI (a real `mlflow server`) exported.

    python -m pytest -m slurm tests/deploy/test_slurm.py
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from infra import REPO, SlurmCluster, Timings, temporary_folder, wait_until
from mlflow.tracking import MlflowClient
from servers import study_trials

from tuner.engines.optuna.record import PARENT_RUN_ATTR, REASON_ATTR, REQUEUED_ATTR
from tuner.tracking.runs import WORKER_ATTR

# Run by .ci/stages/slurm.sh, which installs Slurm; deselected by default (pyproject's addopts),
# and never skipped: where Slurm is missing the test fails.
pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SUBMIT = REPO / "deploy" / "slurm" / "submit.sh"
TINY = ["--space", "mlp_quick", "--data", "iris", "--epochs", "3", "--trials", "4", "--recheck", "1"]
TrialState = optuna.trial.TrialState
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(scope="module")
def timings() -> Timings:
    return Timings()


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    with temporary_folder("tuner-slurm-") as folder:
        cluster = SlurmCluster(folder)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


def submit(slurm: SlurmCluster, workdir: Path, storage: str, tracking: str, *create: str) -> dict[str, str]:
    """deploy/slurm/submit.sh as a user runs it: tuner on PATH, storage and tracking exported."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "TUNER_STORAGE": storage,
        "MLFLOW_TRACKING_URI": tracking,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = slurm.run(
        str(SUBMIT), "2", *create, "--heartbeat-interval", "2", "--grace-period", "10", cwd=workdir, env=env
    )
    submitted = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert submitted["study"] == f"nightly-{submitted['array']}"  # the array's job id names the night
    return submitted


def wait_for_job(slurm: SlurmCluster, job_id: str, workdir: Path, timeout: float = 420) -> dict[str, str]:
    def ended() -> dict[str, str] | None:
        job = slurm.job(job_id)
        return job if job.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") else None

    try:
        return wait_until(f"job {job_id}", ended, timeout, 1.0)
    except AssertionError:
        outputs = "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(workdir.glob("*.out")))
        raise AssertionError(f"job {job_id} did not end: {slurm.job(job_id)}\n{outputs}") from None


def outputs(workdir: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in sorted(workdir.glob("*.out")))


def trial_runs(client: MlflowClient, parent: str) -> dict[int, object]:
    experiment = client.get_run(parent).info.experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {int(r.data.tags["optuna.trial"]): r for r in children if r.data.tags.get("tuner.kind") == "trial"}


def parent_of(study: optuna.Study) -> str:
    return study.user_attrs[PARENT_RUN_ATTR]


def check_finished(client: MlflowClient, parent: str) -> None:
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    models = client.search_logged_models([run.info.experiment_id])
    assert any(m.source_run_id == parent for m in models), "the finish logged no model"


def test_an_array_of_two_workers_and_the_dependent_finish(
    slurm, tracking_server, database, tmp_path, timings
):
    start = time.monotonic()
    job = submit(slurm, tmp_path, database, tracking_server, *TINY)
    finish = wait_for_job(slurm, job["finish"], tmp_path)
    timings.record("slurm: sbatch to finished study (2 tasks, 4 tiny trials)", time.monotonic() - start)
    log = outputs(tmp_path)
    print(log)
    assert finish["JobState"] == "COMPLETED", log
    tasks = slurm.jobs(job["array"])
    assert sorted(t["ArrayTaskId"] for t in tasks) == ["0", "1"], tasks
    assert all(t["JobState"] == "COMPLETED" and t["ExitCode"] == "0:0" for t in tasks), log
    study = optuna.load_study(study_name=job["study"], storage=database)
    trials = study.get_trials()
    finished = [t for t in trials if t.state in FINISHED]
    assert 4 <= len(finished) <= 5 and not [t for t in trials if t.state == TrialState.RUNNING], log
    params = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(params)) == len(params), "two workers sampled the same point"

    client = MlflowClient(tracking_server)
    parent = parent_of(study)
    runs = trial_runs(client, parent)
    assert set(runs) == {t.number for t in trials}  # every trial a child of the one parent run
    status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED"}
    assert all(runs[t.number].info.status == status[t.state] for t in finished)
    check_finished(client, parent)


def test_scancel_of_a_running_task_requeues_its_trial_and_the_finish_still_runs(
    slurm, tracking_server, database, tmp_path, timings
):
    slow = [*TINY, "--epochs", "400", "--patience", "400", "--pruner", "none", "--trials", "2"]
    job = submit(slurm, tmp_path, database, tracking_server, *slow)

    def a_running_trial() -> optuna.trial.FrozenTrial | None:
        try:
            running = study_trials(database, job["study"], states=(TrialState.RUNNING,))
        except KeyError:  # the job has not created its study yet
            return None
        return next((t for t in running if WORKER_ATTR in t.user_attrs), None)

    victim = wait_until("a running trial", a_running_trial, 300, 0.5)
    pid = int(victim.user_attrs[WORKER_ATTR].split(":")[1])
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
    )
    task = environ["SLURM_ARRAY_TASK_ID"]  # the array task whose process runs the trial
    cancelled_at = time.monotonic()
    slurm.run("scancel", f"{job['array']}_{task}")
    wait_until(
        "the trial to be recorded",
        lambda: study_trials(database, job["study"])[victim.number].state != TrialState.RUNNING,
        60,
        0.2,
    )
    timings.record("slurm: scancel to interrupted trial recorded", time.monotonic() - cancelled_at)

    finish = wait_for_job(slurm, job["finish"], tmp_path, timeout=600)
    log = outputs(tmp_path)
    assert finish["JobState"] == "COMPLETED", log  # afterany: a cancelled task does not block it
    [cancelled] = [t for t in slurm.jobs(job["array"]) if t["ArrayTaskId"] == task]
    assert cancelled["JobState"] == "CANCELLED", cancelled

    study = optuna.load_study(study_name=job["study"], storage=database)
    stopped = study.trials[victim.number]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs[REASON_ATTR].startswith("interrupted"), stopped.user_attrs
    [retry] = [t for t in study.trials if t.user_attrs.get(REQUEUED_ATTR) == victim.number]
    assert retry.params == stopped.params and retry.state in FINISHED  # queued, then run by the other task
    assert len([t for t in study.trials if t.state in FINISHED]) >= 2

    client = MlflowClient(tracking_server)
    parent = parent_of(study)
    run = trial_runs(client, parent)[victim.number]
    assert run.info.status == "FAILED" and run.data.tags["tuner.reason"].startswith("interrupted")
    check_finished(client, parent)
