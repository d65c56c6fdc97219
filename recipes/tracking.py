"""Opt-in experiment tracking: `--track mlflow|wandb` on train, eval and sweep (or JAFT_TRACK=mlflow|wandb).
Off unless asked for: nothing leaves the machine, and no tracker library is even imported.

One tracker run per jaft run, recorded in run.json (`tracking`), so that its training (Axolotl's own MLflow or
W&B integration: the loss curves), its evaluation (jaft's metrics per epoch, at step = epoch), its cost and its
files all land in the same place; a sweep's runs are children of one sweep run (MLflow's `mlflow.parentRunId`).

MLflow's store: MLFLOW_TRACKING_URI, else `mlruns/mlflow.db` (SQLite) under the folder jaft runs in, its files
in `mlruns/artifacts/`; `mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db` shows it. W&B: project and
entity from WANDB_PROJECT / WANDB_ENTITY, mode from WANDB_MODE (`offline` keeps it on disk).

Examples:
  just train tiny marc 2e-4 --epochs 1 --track mlflow
  just eval runs/tiny-marc-lr2e-4 --track mlflow
  JAFT_TRACK=wandb WANDB_PROJECT=jaft just sweep --models calm2 --tasks marc
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jaft.common import UsageError, choose
from jaft.records import read_scores

TRACKERS = ("mlflow", "wandb")
OFF = ("", "off", "none", "0", "false")
EXPERIMENT = "jaft"
# run.json facts logged as MLflow parameters (stable over a run's sessions: MLflow refuses to change a parameter)
RUN_FACTS = ("run_id", "model", "task", "lr", "variant", "seed", "base_model", "prompt_template",
             "prompt_template_sha256")


def say(msg: str) -> None:
    print(f"[jaft track] {msg}", file=sys.stderr)


def requested(flag: str | None) -> str | None:
    """The tracker a command was asked for (`--track`, else JAFT_TRACK), or None: off."""
    from jaft.settings import current
    value = (flag if flag is not None else current().track).strip()
    if value.lower() in OFF:
        return None
    choose("tracker (--track / JAFT_TRACK)", value, TRACKERS)
    if importlib.util.find_spec(value) is None:
        extra = "pip install -e '.[track]'" if value == "mlflow" else "pip install wandb"
        raise UsageError(f"--track {value}: the {value} package is not installed ({extra})")
    return value


def public_uri(uri: str) -> str:
    """A store address without the user name or password it may carry (what run.json may record)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, parts.query, ""))


def recipe_keys(track: str | None, run_id: str) -> dict:
    """What the recipe turns on for Axolotl's own integration. The store's address and credentials go through
    the environment only, never into the recipe (a run folder holds no secret)."""
    if track == "mlflow":
        return {"use_mlflow": True, "mlflow_run_name": run_id}
    if track == "wandb":
        return {"use_wandb": True, "wandb_name": run_id}
    return {}


# ---- MLflow --------------------------------------------------------------------------------------------------

def mlflow_uri(recorded: str | None = None) -> str:
    """MLFLOW_TRACKING_URI, else the store a run recorded, else `mlruns/mlflow.db` here (created)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or recorded
    if uri:
        return uri
    store = Path("mlruns").resolve()
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def _client(uri: str):
    import logging

    from mlflow.tracking import MlflowClient
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its "creating tables" lines are not news
    return MlflowClient(uri)


def _experiment(client, uri: str) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///") and Path(uri[len("sqlite:///"):]).parent.name == "mlruns":
        location = (Path(uri[len("sqlite:///"):]).parent / "artifacts").as_uri()  # beside the database
    return client.create_experiment(name, artifact_location=location)


def _flat(prefix: str, values: dict) -> dict:
    """Parameters as MLflow takes them: strings, lists and dicts as JSON, cut at MLflow's 6,000 characters."""
    out = {}
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out[f"{prefix}{key}"] = text[:6000]
    return out


def _mlflow_run(run_dir: Path, manifest: dict, create: bool):
    """(client, run id) of the run's MLflow run: the recorded one, or a new one (recorded) when `create`."""
    rec = (manifest.get("tracking") or {}).get("mlflow") or {}
    uri = mlflow_uri(rec.get("tracking_uri"))
    client = _client(uri)
    if rec.get("run_id"):
        try:
            client.get_run(rec["run_id"])
            return client, rec["run_id"], None
        except Exception:  # noqa: BLE001 - gone from this store (another store, deleted): a new one
            say(f"{manifest.get('run_id')}: MLflow run {rec['run_id']} not found in {public_uri(uri)}; "
                f"starting a new one")
    if not create:
        return client, None, None
    from jaft.settings import current
    tags = {"jaft.run_id": manifest.get("run_id", run_dir.name)}
    if current().mlflow_parent:  # a sweep's step: the sweep's run is the parent (JAFT_MLFLOW_PARENT_RUN_ID)
        tags["mlflow.parentRunId"] = current().mlflow_parent
    run = client.create_run(_experiment(client, uri), run_name=manifest.get("run_id", run_dir.name), tags=tags)
    record = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "tracking_uri": public_uri(uri)}
    return client, run.info.run_id, record


def _log_params(client, run_id: str, params: dict) -> None:
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 100):  # MLflow takes at most 100 parameters a call
        try:
            client.log_batch(run_id, params=items[i:i + 100])
        except MlflowException as e:  # a resumed run whose facts changed: keep the first values
            say(f"some parameters kept their first values ({str(e).splitlines()[0][:160]})")


# ---- the commands' hooks -----------------------------------------------------------------------------------

def start_train(run_dir: Path, manifest: dict, cfg: dict, track: str | None) -> tuple[dict, dict]:
    """Before Axolotl starts: the tracker run (reused when the run resumes) with the recipe's values and
    run.json's facts as parameters. Returns (environment for Axolotl, run.json `tracking` record)."""
    record = dict(manifest.get("tracking") or {})
    if track == "mlflow":
        client, run_id, new = _mlflow_run(run_dir, manifest, create=True)
        record["mlflow"] = new or record["mlflow"]
        _log_params(client, run_id, {**_flat("recipe.", {k: v for k, v in cfg.items() if k != "plugins"}),
                                     **_flat("run.", {k: manifest.get(k) for k in RUN_FACTS}),
                                     **_flat("versions.", manifest.get("versions") or {})})
        # transformers' MLflowCallback resumes the run named by MLFLOW_RUN_ID: Axolotl's curves land in it.
        return {"MLFLOW_TRACKING_URI": mlflow_uri(record["mlflow"]["tracking_uri"]),
                "MLFLOW_RUN_ID": run_id}, record
    if track == "wandb":
        rec = record["wandb"] = _wandb_record(record.get("wandb"))
        env = {"WANDB_RUN_ID": rec["run_id"], "WANDB_RESUME": "allow"}
        return {**env, **wandb_mode()}, record
    return {}, record


def wandb_mode() -> dict:
    """The user's WANDB_MODE. The justfile pins WANDB_MODE=disabled for every verb and keeps the user's value
    in JAFT_WANDB_MODE; with --track wandb that value (or wandb's default, online) applies."""
    from jaft.settings import current
    kept = current().wandb_mode
    mode = kept if kept is not None else os.environ.get("WANDB_MODE", "")
    return {"WANDB_MODE": mode} if mode else {"WANDB_MODE": None}


def after_train(run_dir: Path, manifest: dict, track: str | None) -> None:
    """After Axolotl ends (finished or not): the cost, the recipe and run.json into the tracker run."""
    if track != "mlflow":
        return
    client, run_id, _ = _mlflow_run(run_dir, manifest, create=False)
    if not run_id:
        return
    from mlflow.entities import Metric
    import time
    now = int(time.time() * 1000)
    cost = {k: v for k, v in (manifest.get("cost") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
    client.log_batch(run_id, metrics=[Metric(f"cost.{k}", float(v), now, 0) for k, v in cost.items()])
    for name in ("recipe.yaml", "run.json"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))


def after_eval(run_dir: Path, track: str | None, update_manifest) -> None:
    """After `just eval` of a run: each scored epoch's metrics at step = epoch (epochs already logged are
    skipped), the best epoch, and the predictions and scores as files. `update_manifest(**fields)` records a
    tracker run made here (a run trained without tracking)."""
    from recipes.manifest import read
    manifest = read(run_dir)
    scores_path = run_dir / "scores.json"
    if not track or not manifest or not scores_path.is_file():
        return
    scores = read_scores(scores_path)
    if track == "mlflow":
        client, run_id, new = _mlflow_run(run_dir, manifest, create=True)
        if new:
            update_manifest(tracking={**(manifest.get("tracking") or {}), "mlflow": new})
            _log_params(client, run_id, _flat("run.", {k: manifest.get(k) for k in RUN_FACTS}))
        _mlflow_eval(client, run_id, run_dir, scores)
    elif track == "wandb":
        _wandb_eval(run_dir, manifest, scores, update_manifest)


def epoch_metrics(e: dict) -> dict:
    out = {k: float(v) for k, v in e["metrics"].items() if isinstance(v, (int, float))}
    if e.get("val_loss") is not None:
        out["val_loss"] = float(e["val_loss"])
    return out


def _mlflow_eval(client, run_id: str, run_dir: Path, scores: dict) -> None:
    import time

    from mlflow.entities import Metric
    now = int(time.time() * 1000)
    logged = {m.step for m in client.get_metric_history(run_id, scores["metric"])}
    new = [e for e in scores["epochs"] if e["epoch"] not in logged]
    metrics = [Metric(k, v, now, e["epoch"]) for e in new for k, v in epoch_metrics(e).items()]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    if scores.get("best"):
        client.set_tag(run_id, "jaft.best_epoch", str(scores["best"]["epoch"]))
        client.log_batch(run_id, metrics=[Metric(f"best.{k}", v, now, 0)
                                          for k, v in epoch_metrics(scores["best"]).items()])
    for e in new:
        folder = run_dir / "eval" / f"epoch-{e['epoch']}"
        for name in ("predictions.jsonl", "scores.json"):
            if (folder / name).is_file():
                client.log_artifact(run_id, str(folder / name), f"eval/epoch-{e['epoch']}")
    client.log_artifact(run_id, str(run_dir / "scores.json"))
    say(f"{scores['run_id']}: {len(new)} epoch(s) logged to MLflow run {run_id}")


def _wandb_record(recorded: dict | None) -> dict:
    """The run's W&B run: its id (made by jaft, so that train and eval share it), project and entity."""
    rec = dict(recorded or {"run_id": uuid.uuid4().hex[:12]})
    for key, var in (("project", "WANDB_PROJECT"), ("entity", "WANDB_ENTITY")):
        if os.environ.get(var) and key not in rec:
            rec[key] = os.environ[var]
    return rec


def _wandb_eval(run_dir: Path, manifest: dict, scores: dict, update_manifest) -> None:
    import wandb

    tracking = dict(manifest.get("tracking") or {})
    rec = _wandb_record(tracking.get("wandb"))
    done = set(rec.get("epochs_logged") or [])
    new = [e for e in scores["epochs"] if e["epoch"] not in done]
    if not new:
        return
    mode = wandb_mode()["WANDB_MODE"]
    run = wandb.init(id=rec["run_id"], resume="allow", name=scores["run_id"], mode=mode or None,
                     project=rec.get("project") or os.environ.get("WANDB_PROJECT"),
                     entity=rec.get("entity") or os.environ.get("WANDB_ENTITY"))
    run.define_metric("jaft/epoch")
    run.define_metric("jaft/*", step_metric="jaft/epoch")  # jaft's epochs are not Axolotl's steps
    for e in new:
        run.log({"jaft/epoch": e["epoch"], **{f"jaft/{k}": v for k, v in epoch_metrics(e).items()}})
    run.finish()
    rec["epochs_logged"] = sorted(done | {e["epoch"] for e in new})
    update_manifest(tracking={**tracking, "wandb": rec})
    say(f"{scores['run_id']}: {len(new)} epoch(s) logged to W&B run {rec['run_id']}")


# ---- sweeps --------------------------------------------------------------------------------------------------

def start_sweep(track: str | None, name: str):
    """The settings a sweep's steps run under: its tracker (JAFT_TRACK for the steps, through
    `Settings.environ()`) and, with MLflow, the sweep's own tracker run, parent of every run it starts. Hold
    them with `settings.use(...)`; `end_sweep(settings.current().mlflow_parent, failed)` closes that run."""
    from jaft import settings
    if track is None:
        return settings.changed(track="", mlflow_parent="")
    if track == "wandb":
        os.environ.setdefault("WANDB_RUN_GROUP", name)  # W&B's own variable: the steps inherit it
        return settings.changed(track=track, mlflow_parent="")
    uri = mlflow_uri()
    try:
        client = _client(uri)
        run = client.create_run(_experiment(client, uri), run_name=name, tags={"jaft.sweep": name})
    except Exception as e:  # noqa: BLE001 - e.g. an unreachable server: one line, before any run starts
        raise UsageError(f"--track mlflow: {public_uri(uri)}: {type(e).__name__}: "
                         f"{(str(e).splitlines() or [''])[0][:200]}") from None
    os.environ.setdefault("MLFLOW_TRACKING_URI", uri)  # the runs go into the same store, wherever they run
    return settings.changed(track=track, mlflow_parent=run.info.run_id)


def child_env() -> dict[str, str]:
    """The tracker's own variables a sweep's Ray tasks need (they do not inherit this process's environment):
    the store, the experiment, W&B's project, entity and group. No credential: those stay on each node."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_GROUP")
    env = {name: os.environ[name] for name in names if os.environ.get(name)}
    if public_uri(env.get("MLFLOW_TRACKING_URI", "")) != env.get("MLFLOW_TRACKING_URI", ""):
        del env["MLFLOW_TRACKING_URI"]  # it carries a password: Ray would show it; set it on each node instead
    return env


def end_sweep(parent: str | None, failed: int) -> None:
    if not parent:
        return
    client = _client(mlflow_uri())
    client.log_metric(parent, "runs_failed", failed)
    client.set_terminated(parent, "FAILED" if failed else "FINISHED")
