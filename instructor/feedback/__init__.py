"""Stage 4: the feedback page a student gets (page.py)."""
