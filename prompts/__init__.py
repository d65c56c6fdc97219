"""Task definitions of the paper (Table 1 prompts, dataset sources), data preparation and row fitting.

Example: `python -m prompts data jsquad` (downloads JGLUE's files), `python -m prompts data marc --from DIR`
"""
from prompts.data import load_split, provenance, split_path
from prompts.fit import fit_rows, prompt_length, shorten_all, train_length
from prompts.fit_cache import Fitted, fit_split
from prompts.tasks import TASKS, Task, get_task

__all__ = ["TASKS", "Task", "get_task", "load_split", "provenance", "split_path", "fit_rows", "fit_split",
           "Fitted", "shorten_all", "prompt_length", "train_length"]
