# jaft: one line per verb; each calls `python -m <package> <verb>` in the project's .venv.
# Run from anywhere inside the repository: `just train calm2 marc 2e-4`.
# `exec`: the verb replaces just's shell, so the SIGTERM that just forwards reaches jaft itself.
set positional-arguments
set dotenv-load := false
export AXOLOTL_DO_NOT_TRACK := "1"
# W&B stays off for every verb; `--track wandb` restores the user's own WANDB_MODE, kept here (recipes/tracking.py).
export JAFT_WANDB_MODE := env("WANDB_MODE", "")
export WANDB_MODE := "disabled"
export HF_HUB_DISABLE_TELEMETRY := "1"
export RAY_USAGE_STATS_ENABLED := "0"
py := justfile_directory() / ".venv/bin/python"

# list the verbs
default:
    @just --list --unsorted

# prepare a task's splits: just data marc [--from DIR] [--out DIR]
data *args:
    @exec {{py}} -m prompts data "$@"

# write one run's Axolotl YAML and print its path: just render calm2 xlsum 2e-4 [--variant len1024]
render *args:
    @exec {{py}} -m recipes render "$@"

# render, then train with real Axolotl: just train calm2 marc 2e-4
train *args:
    @exec {{py}} -m recipes train "$@"

# the paper's grid (or part of it): data -> train -> eval, then report
sweep *args:
    @exec {{py}} -m pipeline sweep "$@"

# an Optuna search of the lr (and rank) on a tuning split carved from train: just tune calm2 marc [--trials 8]
tune *args:
    @exec {{py}} -m pipeline tune "$@"

# fit and cache a run's rows without training: just prepare calm2 xlsum [--variant len1024]
prepare *args:
    @exec {{py}} -m recipes prepare "$@"

# generate + score every epoch of every finished run not yet scored
eval *args:
    @exec {{py}} -m eval eval "$@"

# score a predictions file: just score jsquad preds.jsonl
score *args:
    @exec {{py}} -m eval score "$@"

# Tables 3, 5, 6 + comparison, intervals, plots into reports/
report *args:
    @exec {{py}} -m report "$@"

# one epoch as a PEFT adapter + model card (--merge: and a merged model): just export runs/calm2-marc-lr2e-4
export *args:
    @exec {{py}} -m report.export "$@"

# memory plan: the longest sequence under the cap per model and setting
plan *args:
    @exec {{py}} -m recipes plan "$@"

# the whole pipeline on the tiny model and bundled samples, on CPU
demo *args:
    @bash {{justfile_directory()}}/setup.sh
    @exec {{py}} -m pipeline demo "$@"

# the test suite (what .ci/run calls)
test *args:
    @bash {{justfile_directory()}}/setup.sh
    @cd {{justfile_directory()}} && {{py}} -m pytest -q "$@"
