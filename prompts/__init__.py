"""Task definitions of the paper (Table 1 prompts, dataset sources) and data preparation.

Example: `python -m prompts data marc --from ~/datasets/marc_ja`
"""
from prompts.tasks import TASKS, Task, get_task, UsageError

__all__ = ["TASKS", "Task", "get_task", "UsageError"]
