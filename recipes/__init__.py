"""Model registry, Axolotl recipes, the VRAM cap plugin, the memory planner and the train launcher.

Example: `python -m recipes train calm2 marc 2e-4`
"""
