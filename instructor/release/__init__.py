"""Stage 1: the student release (build.py), its leak scan (leaks.py) and the check
that no given file computes what students must write (given_code.py)."""
