"""Figures, one file per kind: curves per scorer, the overview grid, the leaderboard."""
