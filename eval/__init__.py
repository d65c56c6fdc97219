"""Generative evaluation of every epoch checkpoint, Japanese-correct post-processing and metrics.

Example: `python -m eval eval runs/calm2-marc-lr2e-4` or `python -m eval score jsquad preds.jsonl`
"""
