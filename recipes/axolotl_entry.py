"""Axolotl's own command line (`axolotl.cli.main`), started as a module so that it starts and ends faster.

Example: `python -m recipes.axolotl_entry train runs/calm2-marc-lr2e-4/recipe.yaml --launcher python`
(what `just train` runs; the same as `axolotl train ...`).

Two costs of the `axolotl` script that this module avoids, measured on 2 cores (`bench/train_start.py`):
- `datasets` saves Axolotl's tokenized rows through a *spawned* pool and manager, and a spawned process
  imports the parent's main module again: the `axolotl` script imports all of Axolotl (~2.5 s, four times
  per run). This module imports nothing at the top, so a spawned helper imports only what it unpickles.
- Tearing down the interpreter after training (torch's and Axolotl's modules) takes ~3 s. Everything a
  normal exit does that matters still happens: non-daemon threads are joined and every `atexit` handler runs
  (logging, trackers, Axolotl's own); only then does the process end without the teardown, with Axolotl's
  exit code.
"""
from __future__ import annotations

import atexit
import os
import sys

_exit_code = [0]


def _end_without_teardown() -> None:
    """Registered before anything else, so it runs after every other atexit handler (they run last-in first)."""
    if "logging" in sys.modules:  # logging's own atexit flush, in case it was registered before this one
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(_exit_code[0])


def main() -> None:
    atexit.register(_end_without_teardown)
    from axolotl.cli.main import main as axolotl_main
    sys.argv[0] = "axolotl"  # click names the program in its help and errors
    try:
        axolotl_main()
    except SystemExit as e:  # click ends with SystemExit: the exit above keeps its code
        _exit_code[0] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except KeyboardInterrupt:
        _exit_code[0] = 130
        raise
    except BaseException:  # the traceback is printed before the atexit handlers run
        _exit_code[0] = 1
        raise

if __name__ == "__main__":
    main()
