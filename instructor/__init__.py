"""Instructor tools of an assignment, laid out as its pipeline:

    assignment/  the assignment's one spec (this repository's: softmax.py) and its loader
    release/     build the student release from this repository (solutions stripped)
    handin/      find, unpack and repair students' hand-ins; make a solved one
    grade/       grade hand-ins with nbgrader: the batch, one hand-in, the job/result contract
    sandbox/     limits and isolation of the kernel that runs a hand-in
    feedback/    the feedback page for a student (hidden tests removed)
    markers.py   the one reader of solution and hidden-test markers
    data/        the nbgrader settings and the files the release ships as they are

Run as `python -m instructor COMMAND` (see `python -m instructor --help`).
"""
