"""jaft's shared plumbing (`jaft.common`) and its one command (`jaft.cli`: `jaft train calm2 marc 2e-4`)."""
