"""Inspect logs -> a table -> one statistics module -> reports and plots. Reads logs only; never loads torch.

- ``table``: logs to a tidy table (one row per sample).
- ``stats``: means, intervals, the combined score, the one best-cell rule, held-out selection, prompting.
- ``audit``: judges against their deterministic checks.
- ``leaderboard``: per concept and source, the held-out best cell against prompting.
- ``reports``: markdown and the terminal view; ``plots/``: one file per kind of figure.
- ``outputs``: everything above into one folder; ``cli``: ``python -m evals.curves``.
"""
