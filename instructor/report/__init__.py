"""The class report: what a whole batch of hand-ins got right and wrong.

    python -m instructor report OUT [--roster ROSTER.csv]

Built from what a grading run left in OUT (results/<id>.json, grades.csv,
feedback/<id>/, autograded/<id>/, source/), never by grading again:

    OUT/report.html   the batch, the score histogram, each cell's pass rate and
                      reasons, the named mistakes and who made them, knock-on
                      failures, similar hand-ins, unmatched roster entries
    OUT/class.json    the same facts as data
    OUT/canvas.csv    a Canvas gradebook import

build.py reads OUT and ties the steps together, similarity.py compares the
student-written code, canvas.py writes the gradebook import, render.py the page. What the report knows about this particular assignment (which cells
rely on which, the catalogue of named mistakes) comes from the assignment's spec,
through assignment_facts.py.
"""
