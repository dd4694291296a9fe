"""Stage 2: hand-ins: finding and unpacking zips (unpack.py), rebuilding a notebook on
the release's cells (rebuild.py), repairing student files (repair.py), and the
solution as a hand-in (solved.py)."""
