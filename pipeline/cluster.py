"""`just sweep --ray [ADDRESS]`: each run of the grid as one Ray task, on whichever node Ray picks.

A task asks for the GPUs its run needs (`--gpus-per-run`, N for a run with `--deepspeed` over N GPUs; on a
cluster without GPUs `--ray-cpus-per-run` CPUs instead) and runs the local sweep's steps (`steps.run_one`:
`just train`, then `just eval`) in subprocesses on its node. Runs, data and reports must be on storage
every node mounts at the same path; the sweep checks that first. Ray schedules; jaft writes no scheduler.

- A node lost mid-run (its worker dies, or a step is killed by a signal) is retried once by Ray, on any
  node; `just train` resumes the run from its last checkpoint.
- Ctrl-C cancels the tasks: each interrupts its steps as a terminal would, the runs are marked interrupted.

Examples:
  python -m pipeline sweep --ray auto --models calm2 --tasks marc            # a cluster started with `ray start`
  python -m pipeline sweep --ray local --models tiny --tasks marc --lrs 2e-4 5e-5 --epochs 2 --ray-cpus-per-run 1
  python -m pipeline sweep --ray auto --dry-run                              # runs and what each asks for
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from jaft import settings
from jaft.common import UsageError, atomic_write_text, data_root, reports_root, runs_root
from pipeline.steps import StepOptions, run_one, say, state
from recipes import ensure_tiny, manifest
from recipes.runs import RunSpec

INSTALL = "pip install -e '.[cluster]'"
STOP_GRACE_S = 60     # after Ctrl-C, how long a run has to write its state before its steps are killed
CHECK_TIMEOUT_S = 180  # a node's first task waits for a worker process (and its runtime env) to start
LOCAL_OBJECT_STORE = 256 * 2**20  # tasks pass a few small objects; Ray's default takes 30% of the RAM


class RunLost(Exception):
    """A step killed by a signal (its node shutting down, a preemption, the kernel's OOM killer): Ray
    retries the task once, and the retry resumes the run from its last checkpoint."""


@dataclass(frozen=True)
class Ask:
    """The Ray resources one run asks for."""
    cpus: int
    gpus: int

    @classmethod
    def of(cls, gpus_per_run: int, cpus_per_run: int | None) -> "Ask":
        return cls(cpus=cpus_per_run, gpus=0) if cpus_per_run else cls(cpus=1, gpus=gpus_per_run)

    def __str__(self) -> str:
        n, unit = (self.gpus, "GPU") if self.gpus else (self.cpus, "CPU")
        return f"{n} {unit}{'s' if n != 1 else ''}"

    def fits(self, node_resources: dict) -> bool:
        return node_resources.get("GPU", 0) >= self.gpus and node_resources.get("CPU", 0) >= self.cpus


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed here: {INSTALL}") from None


# ---- on a node ----------------------------------------------------------------------------------------------

def node_label() -> str:
    import ray
    return f"{ray.util.get_node_ip_address()} ({ray.get_runtime_context().get_node_id()[:8]})"


def _unblock_sigint() -> None:
    # Ray's workers block SIGINT and a child inherits the mask: the step could not be interrupted otherwise.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def interrupt_tree(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT to a step and every process under it (what Ctrl-C on a terminal does), then SIGKILL to what
    is left after `grace_s`: `just train` marks its run interrupted, Axolotl stops."""
    import psutil  # a dependency of accelerate, hence always here
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGINT)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def call_step(cmd: list[str], env: dict, log) -> int:
    """`steps.run_one`'s way to run a step inside a Ray task. Polls rather than blocking in wait(): Ray's
    cancel raises KeyboardInterrupt only between Python instructions. A step killed by a signal raises
    RunLost (retried); an exit code is the run's own verdict (not retried)."""
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_unblock_sigint)
    try:
        while True:
            try:
                code = proc.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:  # ray.cancel, after Ctrl-C on the driver
        interrupt_tree(proc.pid)
        raise
    if code < 0:
        raise RunLost(f"{' '.join(cmd[1:4])} killed by {signal.Signals(-code).name}")
    return code


def grid_task(spec: RunSpec, opts: StepOptions, ask: Ask, events) -> tuple[bool, str, str]:
    """One run on the node Ray picked: (ok, detail, node). Its state is read here, so that a retry after a
    lost node finds what the lost attempt finished (checkpoints to resume from, epochs already scored)."""
    node = node_label()
    todo = state(spec, opts.limit)
    events.put((spec.id, todo, node))
    if todo == "done":
        return True, "ok", node
    env = {} if ask.gpus else {"OMP_NUM_THREADS": str(ask.cpus)}  # Ray sets CUDA_VISIBLE_DEVICES itself
    ok, detail = run_one(spec, todo, opts, env=env, call=call_step)
    return ok, detail, node


def unreadable(markers: dict[str, str]) -> list[str]:
    """On one node: the marker files (path -> the token the driver wrote) it cannot read back."""
    bad = []
    for path, token in markers.items():
        try:
            if Path(path).read_text(encoding="utf-8") != token:
                bad.append(path)
        except OSError:
            bad.append(path)
    return bad


def _check_node(markers: dict[str, str]) -> tuple[str, list[str]]:
    return node_label(), unreadable(markers)


# ---- on the driver ------------------------------------------------------------------------------------------

def shared_env(models: set[str]) -> dict[str, str]:
    """The settings as absolute paths (for this process and every task), the full lists of registry files
    included (JAFT_TASKS, JAFT_MODELS: os.pathsep-separated), the tracker, the sweep's parent run and the
    tracker's store (tracking.child_env); the hub caches stay per node."""
    if "tiny" in models:  # built here once, not by two tasks at the same time
        ensure_tiny()
    from recipes import tracking
    env = settings.current().environ()
    os.environ.update(env)
    del env["JAFT_INVOCATION_DIR"]  # a task's paths are absolute, and a node may lack this folder
    return {**env, **tracking.child_env()}


def connect(address: str, env: dict[str, str]) -> None:
    """ray.init: `local` starts a Ray instance here, `auto` finds the running one, HOST:PORT (or ray://...)
    names one. The tasks get `env` (the jaft folders) through the job's runtime environment."""
    import ray

    def refuse(why: str) -> UsageError:
        return UsageError(f"cannot reach a Ray cluster at '{address}' ({why}); start one with `ray start --head`, "
                          f"or use --ray local")

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if host and port.isdigit():  # ray.init retries a dead address for many minutes: ask the port first
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as e:
            raise refuse(e.strerror or type(e).__name__) from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray's usage statistics: off, as every tracker
    kwargs = dict(runtime_env={"env_vars": env}, log_to_driver=False, logging_level=logging.WARNING)
    if address == "local":
        kwargs.update(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise refuse((str(e).strip().splitlines() or [type(e).__name__])[0]) from None


def check_cluster(ask: Ask) -> list[dict]:
    """The alive nodes; refuses a grid that no node could ever run (Ray would wait forever)."""
    import ray
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if not any(ask.fits(n.get("Resources", {})) for n in nodes):
        have = ", ".join(f"{n['NodeManagerAddress']}: {n['Resources'].get('GPU', 0):g} GPU, "
                         f"{n['Resources'].get('CPU', 0):g} CPU" for n in nodes)
        hint = "; on a cluster without GPUs pass --ray-cpus-per-run N" if ask.gpus else ""
        raise UsageError(f"no node of the Ray cluster has {ask} for a run ({have}){hint}")
    return nodes


def check_shared_storage(nodes: list[dict]) -> None:
    """The driver writes a marker into the runs, data and reports folders; a task on every alive node reads
    them back. A node that cannot is named in a one-line error, before any run starts."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    token = uuid.uuid4().hex
    markers = {str(root / f".jaft-shared-check-{token}"): token for root in (runs_root(), data_root(), reports_root())}
    for path, text in markers.items():
        atomic_write_text(path, text)
    try:
        check = ray.remote(_check_node)
        refs = {check.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(markers): n for n in nodes}
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=CHECK_TIMEOUT_S)
        if late:
            n = refs[late[0]]
            raise UsageError(f"node {n['NodeManagerAddress']} ({n['NodeID'][:8]}) did not answer the shared-storage "
                             f"check within {CHECK_TIMEOUT_S} s")
        for ref in ready:
            try:
                node, bad = ray.get(ref)
            except ray.exceptions.RayError as e:  # most often: jaft is not installed on that node
                n = refs[ref]
                raise UsageError(f"node {n['NodeManagerAddress']} ({n['NodeID'][:8]}) could not run jaft's check "
                                 f"({_first_line(e)}); install jaft on every node (`bash setup.sh` in the same "
                                 f"checkout, {INSTALL})") from None
            if bad:
                raise UsageError(f"node {node} cannot see {bad[0]}, which this machine wrote: runs, data and reports "
                                 f"must be on storage every node mounts at the same path (JAFT_RUNS, JAFT_DATA, "
                                 f"JAFT_REPORTS)")
    finally:
        for path in markers:
            Path(path).unlink(missing_ok=True)


def run_grid(todo: list[tuple[RunSpec, str]], opts: StepOptions, ask: Ask, address: str) -> tuple[list, bool]:
    """Every run of `todo` as a Ray task; progress as one line per run start and end, with its node.
    Returns (failures as (run id, detail), interrupted)."""
    import ray
    from ray.util.queue import Queue
    env = shared_env({s.model.name for s, _ in todo})
    connect(address, env)
    try:
        check_shared_storage(check_cluster(ask))
        events = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(grid_task).options(num_cpus=ask.cpus if not ask.gpus else 1, num_gpus=ask.gpus,
                                             max_retries=1, retry_exceptions=[RunLost])
        pending = {task.remote(spec, opts, ask, events): spec for spec, _ in todo}
        say(f"{len(pending)} tasks submitted to Ray ({address})")
        started: dict[str, int] = {}
        failures = []

        def report_starts() -> None:
            while not events.empty():
                run_id, what, node = events.get()
                started[run_id] = started.get(run_id, 0) + 1
                again = f" (retry {started[run_id] - 1}, after a lost attempt)" if started[run_id] > 1 else ""
                say(f"{run_id}: {what + ' + eval' if what == 'train' else what} on node {node}{again}")

        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                report_starts()
                for ref in ready:
                    spec = pending.pop(ref)
                    try:
                        ok, detail, node = ray.get(ref)
                    except ray.exceptions.RayError as e:  # lost twice (or the task itself broke)
                        ok, node = False, "?"
                        detail = f"task lost after {started.get(spec.id, 0)} attempts: {_first_line(e)}"
                        if manifest.read(spec.dir).get("status") != "finished":
                            manifest.update(spec.dir, run_id=spec.id, status="failed", error=detail)
                    say(f"{spec.id}: {'done' if ok else 'FAILED'} on node {node}" + ("" if ok else f": {detail}"))
                    if not ok:
                        failures.append((spec.id, detail))
        except KeyboardInterrupt:
            stop(pending, started, report_starts)
            return failures, True
        return failures, False
    finally:
        ray.shutdown()


def stop(pending: dict, started: dict, report_starts) -> None:
    """Ctrl-C: cancel every task (a queued one never starts; a running one interrupts its steps), wait for
    them to wind down, and mark the runs that had started interrupted (`just sweep` again resumes them)."""
    import ray
    say(f"interrupted: cancelling {len(pending)} tasks (runs in progress get up to {STOP_GRACE_S} s to stop)")
    for ref in pending:
        ray.cancel(ref)
    ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_S + 15)
    report_starts()
    for spec in pending.values():
        if spec.id in started and manifest.read(spec.dir).get("status") != "finished":
            manifest.update(spec.dir, run_id=spec.id, status="interrupted")
            say(f"{spec.id}: interrupted; `just sweep --ray` again resumes it")


def _first_line(e: Exception) -> str:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"[:300]
