"""Orchestration: the grid of runs (`sweep`, one machine or a Ray cluster) and the CPU `demo`.

Example: `python -m pipeline sweep --models calm2 --tasks marc --gpus 0,1`
"""
