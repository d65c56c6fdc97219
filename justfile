# jaft: one line per verb, each an alias of `jaft VERB` (jaft/cli.py) in the project's .venv.
# Run from anywhere inside the repository: `just train calm2 marc 2e-4`. Verbs run in the project folder
# (data/, runs/, reports/ live there); paths you type are relative to where you are (JAFT_INVOCATION_DIR).
# `exec`: the verb replaces just's shell, so the SIGTERM that just forwards reaches jaft itself.
# `[no-exit-message]`: jaft's own one-line error is the last word, without just's "recipe failed" line.
set positional-arguments
set dotenv-load := false
export AXOLOTL_DO_NOT_TRACK := "1"
# W&B stays off for every verb; `--track wandb` restores the user's own WANDB_MODE, kept here (recipes/tracking.py).
export JAFT_WANDB_MODE := env("WANDB_MODE", "")
export WANDB_MODE := "disabled"
export HF_HUB_DISABLE_TELEMETRY := "1"
export RAY_USAGE_STATS_ENABLED := "0"
export JAFT_INVOCATION_DIR := invocation_directory()
jaft := quote(justfile_directory() / ".venv/bin/python") + " -m jaft"

# list the verbs
default:
    @just --list --unsorted

# prepare a task's splits: just data marc [--from DIR] [--out DIR]
[no-exit-message]
data *args:
    @exec {{jaft}} data "$@"

# write one run's Axolotl YAML and print its path: just render calm2 xlsum 2e-4 [--variant len1024]
[no-exit-message]
render *args:
    @exec {{jaft}} render "$@"

# render, check with Axolotl's schema, then train with real Axolotl: just train calm2 marc 2e-4
[no-exit-message]
train *args:
    @exec {{jaft}} train "$@"

# the paper's grid (or part of it): data -> train -> eval, then report
[no-exit-message]
sweep *args:
    @exec {{jaft}} sweep "$@"

# an Optuna search of the lr (and rank) on a tuning split carved from train: just tune calm2 marc [--trials 8]
[no-exit-message]
tune *args:
    @exec {{jaft}} tune "$@"

# fit and cache a run's rows without training: just prepare calm2 xlsum [--variant len1024]
[no-exit-message]
prepare *args:
    @exec {{jaft}} prepare "$@"

# generate + score every epoch of every finished run not yet scored
[no-exit-message]
eval *args:
    @exec {{jaft}} eval "$@"

# score a predictions file: just score jsquad preds.jsonl
[no-exit-message]
score *args:
    @exec {{jaft}} score "$@"

# Tables 3, 5, 6 + comparison, intervals, plots into reports/
[no-exit-message]
report *args:
    @exec {{jaft}} report "$@"

# one epoch as a PEFT adapter + model card (--merge: and a merged model): just export runs/calm2-marc-lr2e-4
[no-exit-message]
export *args:
    @exec {{jaft}} export "$@"

# build (once) the tiny test model and print its folder: just tiny [tiny-qwen3]
[no-exit-message]
tiny *args:
    @exec {{jaft}} tiny "$@"

# memory plan: the longest sequence under the cap per model and setting; one prediction: just plan calm2 --seq 4096
[no-exit-message]
plan *args:
    @exec {{jaft}} plan "$@"

# check registries, a run folder, a data folder or a predictions file: just validate [PATH ...]
[no-exit-message]
validate *args:
    @exec {{jaft}} validate "$@"

# the whole pipeline on the tiny model and bundled samples, on CPU
[no-exit-message]
demo *args:
    @bash {{justfile_directory()}}/setup.sh
    @exec {{jaft}} demo "$@"

# (tests/conftest.py keeps the tests that share a trained fixture on one worker.)

# the test suite, as .ci/run calls it, on two pytest-xdist workers (`just test -n 0`: one process)
[no-exit-message]
test *args:
    @bash {{justfile_directory()}}/setup.sh
    @cd {{justfile_directory()}} && {{quote(justfile_directory() / ".venv/bin/python")}} -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder "$@"
