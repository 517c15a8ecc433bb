"""Real cluster tooling for the tests: Docker's engine and a one-node Slurm, started here and
removed afterwards (tests/deploy/test_docker.py, tests/deploy/test_slurm.py).

Both come from Debian's packages (.ci/stages/docker.sh and slurm.sh install them). Nothing
here knows a package index or a mirror by name: debootstrap takes the mirror this machine's
apt uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from paths import REPO

INFRA = Path(__file__).resolve().parent / "cluster_infra"


def sh(
    *command: str | Path, check: bool = True, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command, output captured as text; on failure the error shows its output."""
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{shlex.join(str(c) for c in command)} exited {done.returncode}:\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def wait_until(what: str, condition: Callable[[], object], timeout: float, poll: float = 1.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Timings:
    """Durations the closing notes quote: printed, and appended to $TUNER_INFRA_TIMINGS if set."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def record(self, name: str, seconds: float) -> None:
        self.values[name] = round(seconds, 1)
        print(f"TIMING {name}: {seconds:.1f} s")
        if path := os.environ.get("TUNER_INFRA_TIMINGS"):
            with open(path, "a") as f:
                f.write(json.dumps({"name": name, "seconds": round(seconds, 1), "at": time.time()}) + "\n")


# --- Docker -----------------------------------------------------------------------------------

DOCKER_CHAIN = re.compile(r"\bDOCKER[-A-Z0-9]*\b")
DOCKER_BRIDGE = re.compile(r"\b(docker0|br-[0-9a-f]{12})\b")


def _dockers(rule: str) -> bool:
    """A rule dockerd made: one of its chains, or one of its bridges."""
    return bool(DOCKER_CHAIN.search(rule) or DOCKER_BRIDGE.search(rule))


def _iptables_rules() -> dict[str, list[str]]:
    return {table: sh("iptables", "-t", table, "-S").stdout.splitlines() for table in ("filter", "nat")}


def docker_leftovers() -> list[str]:
    """What a stopped Docker engine leaves behind: bridges, iptables chains and rules."""
    found = []
    links = sh("ip", "-o", "link", "show").stdout
    found += [
        f"link {m}" for m in re.findall(r"^\d+: (docker0|br-[0-9a-f]{12}|veth[0-9a-f]+)[@:]", links, re.M)
    ]
    for table, rules in _iptables_rules().items():
        found += [f"iptables -t {table}: {r}" for r in rules if _dockers(r)]
    return found


def remove_docker_leftovers(policies: dict[str, dict[str, str]] | None = None) -> None:
    """Delete the bridges and iptables rules and chains a stopped dockerd left, and put the
    built-in chains' policies back (dockerd sets FORWARD to DROP)."""
    for name in re.findall(
        r"^\d+: (docker0|br-[0-9a-f]{12})[@:]", sh("ip", "-o", "link", "show").stdout, re.M
    ):
        sh("ip", "link", "delete", name, check=False)
    for table, rules in _iptables_rules().items():
        for rule in rules:  # jumps from built-in chains into Docker's, and rules naming its bridge
            if rule.startswith("-A ") and _dockers(rule):
                chain, *rest = shlex.split(rule)[1:]
                if not DOCKER_CHAIN.fullmatch(chain):
                    sh("iptables", "-t", table, "-D", chain, *rest, check=False)
        chains = [r.split()[1] for r in rules if r.startswith("-N ") and DOCKER_CHAIN.fullmatch(r.split()[1])]
        for chain in chains:
            sh("iptables", "-t", table, "-F", chain, check=False)
        for chain in chains:
            sh("iptables", "-t", table, "-X", chain, check=False)
        for chain, policy in (policies or {}).get(table, {}).items():
            sh("iptables", "-t", table, "-P", chain, policy, check=False)


def _policies() -> dict[str, dict[str, str]]:
    return {
        table: {r.split()[1]: r.split()[2] for r in rules if r.startswith("-P ")}
        for table, rules in _iptables_rules().items()
    }


class DockerEngine:
    """Docker's engine: the one running, or a dockerd of our own, stopped and cleaned up after."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.policies: dict[str, dict[str, str]] = {}

    @staticmethod
    def answers() -> bool:
        return sh("docker", "info", "--format", "{{.ServerVersion}}", check=False, timeout=30).returncode == 0

    def start(self) -> None:
        if self.answers():
            return  # someone else's engine (a stage script's): theirs to stop
        self.policies = _policies()
        log = (self.workdir / "dockerd.log").open("w")
        self.process = subprocess.Popen(
            ["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until("dockerd to answer", lambda: self.process.poll() is not None or self.answers(), 60, 0.5)
        assert self.process.poll() is None, (self.workdir / "dockerd.log").read_text()[-3000:]

    def stop(self) -> None:
        """Stop our dockerd (and the containerd it started) and remove what it left behind."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        self.process = None
        remove_docker_leftovers(self.policies)


def image_exists(tag: str) -> bool:
    return sh("docker", "image", "inspect", tag, check=False).returncode == 0


def image_size_mb(tag: str) -> float:
    return int(sh("docker", "image", "inspect", "--format", "{{.Size}}", tag).stdout) / 1e6


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 sources or a classic sources.list)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["deb"] and "security" not in line:
            return next(p for p in parts[1:] if "://" in p)
    raise AssertionError("no Debian mirror in /etc/apt")


BASE_PACKAGES = "python3,python3-venv,ca-certificates"


def base_image(workdir: Path, timings: Timings) -> str:
    """A Debian bookworm image with Python 3.11, made offline with debootstrap (no registry is
    reachable here); kept under a tag, so only the first run pays for it (~45 s)."""
    tag = f"tuner-test/base:bookworm-{hashlib.sha256(BASE_PACKAGES.encode()).hexdigest()[:8]}"
    if image_exists(tag):
        return tag
    start = time.monotonic()
    rootfs = workdir / "rootfs"
    sh(
        "debootstrap",
        "--variant=minbase",
        f"--include={BASE_PACKAGES}",
        "bookworm",
        rootfs,
        apt_mirror(),
        timeout=900,
    )
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / cache).glob("*"):
            if path.is_file():
                path.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8"]
    imported = subprocess.run(
        ["docker", "import", *[a for c in changes for a in ("--change", c)], "-", tag],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
    )
    tar.wait()
    assert imported.returncode == 0 and tar.returncode == 0, imported.stderr
    shutil.rmtree(rootfs)
    timings.record("base image (debootstrap + import)", time.monotonic() - start)
    return tag


def postgres_image(base: str, timings: Timings) -> str:
    """The test's stand-in for the official postgres image (tests/helpers/cluster_infra/postgres), kept
    under a tag made of its files and its base."""
    folder = INFRA / "postgres"
    digest = hashlib.sha256(base.encode())
    for path in sorted(folder.iterdir()):
        digest.update(path.read_bytes())
    tag = f"tuner-test/postgres:15-{digest.hexdigest()[:8]}"
    if image_exists(tag):
        return tag
    start = time.monotonic()
    sh(
        "docker",
        "build",
        "--build-arg",
        f"BASE={base}",
        "-t",
        tag,
        folder,
        env=classic_builder(),
        timeout=900,
    )
    timings.record("postgres test image build", time.monotonic() - start)
    return tag


def classic_builder() -> dict[str, str]:
    """Without buildx a current docker CLI refuses BuildKit; the classic builder needs nothing."""
    return {**os.environ, "DOCKER_BUILDKIT": "0"}


class Compose:
    """docker-compose (1.29, Debian's) on the project's docker/compose.yaml, one project name."""

    def __init__(self, project: str, env_file: Path) -> None:
        self.project, self.env_file = project, env_file

    def __call__(self, *args: str, check: bool = True, timeout: float = 900, env: dict | None = None):
        command = ["docker-compose", "--ansi", "never", "-p", self.project, "--env-file", str(self.env_file)]
        command += ["-f", str(REPO / "docker" / "compose.yaml"), *args]
        return sh(*command, check=check, timeout=timeout, env={**os.environ, **(env or {})})

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}_{service}_{index}"


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


# --- Slurm ------------------------------------------------------------------------------------


class SlurmCluster:
    """A one-node Slurm of Debian's packages: munged, slurmctld and slurmd on this machine, the
    configuration written at run time (NodeName must be `hostname -s`), two fake GPUs declared
    (GresTypes=gpu and a gres.conf) so that --gres=gpu:1 schedules."""

    GPUS = 2

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.conf = workdir / "slurm.conf"
        self.processes: list[subprocess.Popen] = []
        self.munged_pid: int | None = None
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        host = sh("hostname", "-s").stdout.strip()
        cpus = len(os.sched_getaffinity(0))
        memory_mb = (
            int(
                next(
                    line.split()[1]
                    for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")
                )
            )
            // 1024
            * 8
            // 10
        )
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir(exist_ok=True)
        d = self.dir
        self.conf.write_text(
            f"""ClusterName=tunertest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=30
MinJobAge=600
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:{self.GPUS} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        )
        # Slurm 22.05 drops GPUs that have no device file ("Removing file-less GPU"), so each fake
        # GPU is a device node of our own, a copy of /dev/null (char 1:3): the jobs never touch it
        # (task/none: no cgroup limits), Slurm only counts it and sets CUDA_VISIBLE_DEVICES.
        devices = self.dir / "dev"
        devices.mkdir(exist_ok=True)
        for index in range(self.GPUS):
            if not (devices / f"gpu{index}").exists():
                os.mknod(devices / f"gpu{index}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        (self.dir / "gres.conf").write_text(
            f"NodeName={host} Name=gpu File={devices}/gpu[0-{self.GPUS - 1}]\n"
        )

    def start(self) -> None:
        self.write_config()
        munge_run = Path("/run/munge")
        if not (munge_run / "munge.socket.2").exists() or sh("munge", "-n", check=False).returncode != 0:
            munge_run.mkdir(parents=True, exist_ok=True)
            shutil.chown(munge_run, "munge", "munge")
            sh("runuser", "-u", "munge", "--", "/usr/sbin/munged")  # forks into the background
            pidfile = munge_run / "munged.pid"
            wait_until("munged", lambda: pidfile.exists() and pidfile.read_text().strip(), 20, 0.2)
            self.munged_pid = int(pidfile.read_text())
        for daemon in ("slurmctld", "slurmd"):
            log = (self.dir / f"{daemon}.out").open("w")
            self.processes.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(self.conf)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,
                )
            )
        wait_until("the node to be idle", self._idle, 60, 0.5)

    def _idle(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                logs = "".join(p.read_text()[-2000:] for p in self.dir.glob("*.log"))
                raise AssertionError(f"{process.args[0]} exited {process.returncode}: {logs}")
        state = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
        return state == "idle"

    def run(
        self, *command: str, check: bool = True, timeout: float = 60, **kwargs
    ) -> subprocess.CompletedProcess:
        return sh(*command, check=check, timeout=timeout, env={**self.env, **kwargs.pop("env", {})}, **kwargs)

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (finished jobs stay MinJobAge seconds); {} when gone."""
        done = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        if done.returncode != 0:
            return {}
        fields = {}
        for token in done.stdout.split("\n")[0].split():
            key, _, value = token.partition("=")
            fields[key] = value
        return fields

    def jobs(self, job_id: str) -> list[dict[str, str]]:
        """Every record of a job: one per array task."""
        done = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        records = []
        for line in done.stdout.splitlines():
            records.append(dict(t.partition("=")[::2] for t in line.split()))
        return records

    def stop(self) -> None:
        """Cancel what still runs, stop slurmd and slurmctld, and munged if we started it."""
        self.run("scancel", "--full", "--user", "root", check=False)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        self.processes = []
        if self.munged_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.munged_pid, signal.SIGTERM)
            wait_until("munged to stop", lambda: not Path(f"/proc/{self.munged_pid}").exists(), 20, 0.2)
            self.munged_pid = None


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
