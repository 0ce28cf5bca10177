"""Inspect tasks, solvers and scorers for steering sweeps (absolute imports: tasks run as files)."""
