"""Limits and isolation for running a hand-in's kernel (limits.py, kernel_launcher.py)."""
