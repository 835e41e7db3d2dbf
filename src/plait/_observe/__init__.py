"""Seeing what runs: the task tree, the task monitor, progress observers."""
