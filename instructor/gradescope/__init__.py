"""Grading on Gradescope: the autograder zip (build.py), what runs in Gradescope's
container for each submission (run.py), the student's upload as a hand-in
(upload.py) and a Result as Gradescope's results.json (results.py)."""
