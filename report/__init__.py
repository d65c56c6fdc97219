"""Paper-ready tables (3, 5, 6), the paper's numbers beside ours, bootstrap intervals and plots.

Example: `python -m report` (reads runs/*/scores.json, writes reports/)
"""
