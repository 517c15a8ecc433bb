"""deploy/k8s checked offline (no cluster can run here), and every `tuner ...` command line that
deploy/, docker/compose.yaml and the Slurm scripts run, parsed by the CLI itself.

The manifests are validated against Kubernetes' own schemas (the kubernetes-validate package,
strict: unknown fields, wrong types, missing required fields); the rules only an API server
enforces (Indexed completion, restart policy, Secret references, the schedule's syntax, ...)
are checked here. A command line with an option the CLI does not know fails here, not at 1 a.m.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import kubernetes_validate
import pytest
import yaml
from paths import REPO

from tuner.cli.main import cli

K8S = REPO / "deploy" / "k8s"
SLURM = REPO / "deploy" / "slurm"
COMPOSE = REPO / "docker" / "compose.yaml"
KUBERNETES = "1.32.0"
PLACEHOLDER = "placeholder"


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


def by_kind(kind: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def pod_specs() -> list[tuple[dict, dict]]:
    """(job spec, pod spec) of every CronJob and Job."""
    specs = []
    for doc in manifests():
        kind, body = doc[1]["kind"], doc[1]
        if kind == "CronJob":
            job = body["spec"]["jobTemplate"]["spec"]
        elif kind == "Job":
            job = body["spec"]
        else:
            continue
        specs.append((job, job["template"]["spec"]))
    return specs


def containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod["containers"]]


# --- the manifests --------------------------------------------------------------------------


@pytest.mark.parametrize("name, doc", manifests(), ids=[n for n, _ in manifests()])
def test_every_manifest_is_valid_against_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_there_is_a_cronjob_and_an_example_secret():
    assert len(by_kind("CronJob")) == 1 and len(by_kind("Secret")) == 1


CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def valid_cron(schedule: str) -> bool:
    """The five-field syntax Kubernetes' CronJob controller accepts (numbers, *, ranges, steps,
    lists; month and weekday names), or one of its macros."""
    if schedule.strip() in MACROS:
        return True
    fields = schedule.split()
    if len(fields) != 5:
        return False
    names = {
        3: "jan feb mar apr may jun jul aug sep oct nov dec".split(),
        4: "sun mon tue wed thu fri sat".split(),
    }

    def number(text: str, index: int) -> int | None:
        if text.isdigit():
            return int(text)
        if text.lower() in names.get(index, []):
            return names[index].index(text.lower()) + (1 if index == 3 else 0)
        return None

    for index, (field, (low, high)) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        for part in field.split(","):
            match = re.fullmatch(r"(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?", part)
            if not match:
                return False
            span, step = match.groups()
            if step is not None and int(step) < 1:
                return False
            if span in ("*", "?"):
                continue
            bounds = [number(b, index) for b in span.split("-")]
            if any(b is None or not low <= b <= high for b in bounds) or bounds != sorted(bounds):
                return False
    return True


@pytest.mark.parametrize(
    "schedule, ok",
    [
        ("0 1 * * *", True),
        ("*/15 2-5 * * mon-fri", True),
        ("@daily", True),
        ("0 25 * * *", False),
        ("0 1 * *", False),
        ("0 1 * * * *", False),
        ("x 1 * * *", False),
        ("0 5-2 * * *", False),
    ],
)
def test_the_schedule_check_itself(schedule, ok):
    assert valid_cron(schedule) is ok


def test_the_cronjob_runs_one_night_at_a_time_on_its_schedule():
    [cron] = by_kind("CronJob")
    assert valid_cron(cron["spec"]["schedule"]), cron["spec"]["schedule"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_job_is_an_indexed_job_of_n_gpu_workers():
    specs = pod_specs()
    assert specs
    for job, pod in specs:
        assert job["completionMode"] == "Indexed"  # the schema accepts any string: the server does not
        assert job["parallelism"] == job["completions"] >= 1
        assert isinstance(job.get("backoffLimit"), int) and job["backoffLimit"] >= job["completions"]
        assert pod["restartPolicy"] in ("Never", "OnFailure")
        if "podFailurePolicy" in job:
            assert pod["restartPolicy"] == "Never"  # the server refuses a pod failure policy otherwise
            names = {c["name"] for c in containers(pod)}
            for rule in job["podFailurePolicy"]["rules"]:
                assert rule["action"] in ("FailJob", "Ignore", "Count", "FailIndex")
                if "onExitCodes" in rule:
                    assert rule["onExitCodes"].get("containerName") in names | {None}
                    assert 0 not in rule["onExitCodes"]["values"]
        # Long enough for a SIGTERMed worker to record its trial as interrupted (seconds).
        assert pod["terminationGracePeriodSeconds"] >= 60
        assert pod.get("automountServiceAccountToken") is False  # no kubectl, no API access
        [worker] = pod["containers"]
        for container in containers(pod):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(
                resources["limits"]
            )
        assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert worker["resources"]["requests"].get("nvidia.com/gpu", 1) == 1  # extended resources: equal
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (docker/Dockerfile)


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_every_pod_names_its_study_after_its_job_and_reads_credentials_from_the_secret():
    [secret] = by_kind("Secret")
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    assert {
        "TUNER_STORAGE",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    } <= keys
    for _, pod in pod_specs():
        for container in containers(pod):
            env = env_of(container)
            field = env["TUNER_STUDY"]["valueFrom"]["fieldRef"]["fieldPath"]
            assert field in (
                "metadata.labels['batch.kubernetes.io/job-name']",
                "metadata.labels['job-name']",
            )
            assert "--study" in container["args"] and "$(TUNER_STUDY)" in container["args"]
            for name in ("TUNER_STORAGE", "MLFLOW_TRACKING_PASSWORD"):
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in keys
                assert "value" not in env[name]  # never a literal credential
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]
            for reference in re.findall(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(container.get("args", []))
            ):
                assert reference in env, f"$({reference}) is not defined in {container['name']}'s env"


def test_each_pod_creates_the_study_then_works_and_the_last_worker_finishes():
    for _, pod in pod_specs():
        [create] = pod["initContainers"]
        [worker] = pod["containers"]
        assert create["args"][:2] == ["study", "create"]
        assert worker["args"][0] == "worker" and "--finish" in worker["args"]


# --- every tuner command line, parsed by the CLI ------------------------------------------------


def parse(args: list[str]) -> click.Context:
    """Parse a `tuner` command line as the CLI would, down to its subcommand; nothing runs."""
    ctx = click.Context(cli, info_name="tuner")
    group: click.Group = cli
    rest = list(args)
    while True:
        assert rest, f"no command in {args}"
        name, *rest = rest
        command = group.get_command(ctx, name)
        if command is None:
            raise click.UsageError(f"no such command {name!r} in `tuner {shlex.join(args)}`", ctx)
        if isinstance(command, click.Group):
            ctx, group = click.Context(command, info_name=name, parent=ctx), command
            continue
        return command.make_context(name, rest, parent=ctx)


def k8s_commands() -> list[tuple[str, list[str]]]:
    """The args of every container of tuner's image (its entrypoint is `tini -- tuner`)."""
    found = []
    for _, pod in pod_specs():
        for container in containers(pod):
            assert "command" not in container, "keep the image's entrypoint: tini passes SIGTERM on"
            args = [re.sub(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", PLACEHOLDER, a) for a in container["args"]]
            found.append((f"k8s {container['name']}", args))
    return found


COMPOSE_VARIABLE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


def compose_substitute(text: str) -> str:
    """docker-compose's interpolation with nothing set: a default where there is one, a
    placeholder for a required variable, the empty string otherwise."""

    def value(match: re.Match) -> str:
        name, operator, word, bare = match.groups()
        if operator in (":-", "-"):
            return word
        return PLACEHOLDER if (operator or "").endswith("?") or bare or name else ""

    return COMPOSE_VARIABLE.sub(value, text)


def compose_commands() -> list[tuple[str, list[str]]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    found = []
    for name, service in services.items():
        if "entrypoint" in service or "command" not in service:
            continue  # not tuner's entrypoint (the database, the tracking server's helper)
        command = service["command"]
        args = shlex.split(compose_substitute(command)) if isinstance(command, str) else command
        found.append((f"compose {name}", args))
    return found


def shell_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Every `tuner ...` command line of a shell script, variables replaced by placeholders
    ("$@", the script's own arguments, by nothing)."""
    text = path.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for start, word in enumerate(words):
            if word != "tuner" or start + 1 >= len(words) or words[start + 1].startswith("-"):
                continue
            args = []
            for token in words[start + 1 :]:
                if token in (";", ";;", "&&", "||", "|", "&", "then", "do"):
                    break
                last = token.endswith(";")
                token = token.rstrip(";")
                if token and token != "$@":
                    args.append(re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", PLACEHOLDER, token))
                if last:
                    break
            found.append((f"{path.name}: {line.strip()}", args))
    return found


def slurm_commands() -> list[tuple[str, list[str]]]:
    return [c for path in sorted(SLURM.iterdir()) if path.is_file() for c in shell_commands(path)]


ALL_COMMANDS = k8s_commands() + compose_commands() + slurm_commands()


def test_the_command_lines_are_all_found():
    kinds = {" ".join(args[:2]) for _, args in ALL_COMMANDS}
    assert {"study create", "study finish"} <= kinds and any(args[0] == "worker" for _, args in ALL_COMMANDS)
    sources = {where.split()[0] for where, _ in ALL_COMMANDS}
    assert {"k8s", "compose", "worker.sbatch:", "finish.sbatch:"} <= sources


@pytest.mark.parametrize("where, args", ALL_COMMANDS, ids=[w for w, _ in ALL_COMMANDS])
def test_every_tuner_command_line_parses(where, args, monkeypatch):
    for name in ("TUNER_STORAGE", "TUNER_STUDY", "MLFLOW_TRACKING_URI", "TUNER_DATA"):
        monkeypatch.setenv(name, PLACEHOLDER)
    parse(args)  # raises click's UsageError on an unknown option, a missing value, a bad choice


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--study", "x", "--bogus"],
        ["study", "create", "--study", "x", "--trials", "many"],
        ["study", "nope"],
        ["worker", "--study"],
    ],
)
def test_the_parse_check_fails_on_a_bad_command_line(args, monkeypatch):
    monkeypatch.setenv("TUNER_STORAGE", PLACEHOLDER)
    with pytest.raises(click.UsageError):
        parse(args)


def test_the_compose_substitution_and_shell_extraction_themselves(tmp_path):
    assert (
        compose_substitute("--a ${X:-d} --b ${Y:?set it} ${Z:-} $W")
        == f"--a d --b {PLACEHOLDER}  {PLACEHOLDER}"
    )
    script = tmp_path / "s.sh"
    script.write_text(
        'if tuner study create --study "$S" "$@"; then\n  exec tuner worker --study "${S}" --n-jobs 1\nfi\n'
    )
    assert [a for _, a in shell_commands(script)] == [
        ["study", "create", "--study", PLACEHOLDER],
        ["worker", "--study", PLACEHOLDER, "--n-jobs", "1"],
    ]
