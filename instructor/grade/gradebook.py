"""The score rules, in one place: how verdicts and hand-in results become grades in an
nbgrader gradebook, and how they are read back.

- An automatic (test) cell scores its points if the trusted verdict passed it, else 0;
  no score the student's kernel produced survives (write_verdicts).
- A test is "passed" when its points reach its maximum (read_scores).
- A written answer that was left unchanged scores 0; a changed one waits for a
  grader (needs_manual_grade) and counts only once a manual score is given.
- A hand-in that could not be graded scores 0 in every cell (merge_result).
Every stage (one hand-in's course, the class gradebook, the CSV, the feedback)
reads these functions' results, so the rules are never restated elsewhere.
"""
import datetime
import os

from instructor.assignment import spec as assignment_spec


def _db(course):
    return f"sqlite:///{os.path.join(course, 'gradebook.db')}"


def _ids(spec):
    spec = spec or assignment_spec()
    return spec.assignment_id, os.path.splitext(spec.notebook)[0]


def write_verdicts(course, student_id, auto_cells, verdicts, spec=None):
    """Set every automatic grade of the submission from the verdicts; returns the
    TestScores as the gradebook now holds them (one truth for CSV, Formgrader, feedback)."""
    from nbgrader.api import Gradebook

    from instructor.grade.job import TestScore
    assignment_id, notebook_id = _ids(spec)
    tests = []
    with Gradebook(_db(course)) as gb:
        for c in auto_cells:
            grade = gb.find_grade(c.grade_id, notebook_id, assignment_id, student_id)
            grade.auto_score = float(grade.max_score) if verdicts[c.grade_id].passed else 0.0
            grade.needs_manual_grade = False
        gb.db.commit()
        for c in auto_cells:
            grade = gb.find_grade(c.grade_id, notebook_id, assignment_id, student_id)
            v = verdicts[c.grade_id]
            points, top = float(grade.auto_score), float(grade.max_score)
            tests.append(TestScore(c.grade_id, points, top, status(points, top),
                                   "" if v.passed else (v.message or "the check failed")))
    return tests


def status(points, top):
    return "passed" if points >= top else "failed"


def read_scores(course, student_id, messages=None, spec=None):
    """([TestScore], [ManualAnswer]) from a hand-in's gradebook; messages gives a failed
    test its message by grade_id."""
    from nbgrader.api import Gradebook

    from instructor.grade.job import ManualAnswer, TestScore
    assignment_id, notebook_id = _ids(spec)
    messages = messages or {}
    tests, manual = [], []
    with Gradebook(_db(course)) as gb:
        nb = gb.find_submission_notebook(notebook_id, assignment_id, student_id)
        for grade in nb.grades:
            if grade.cell.cell_type == "markdown" or grade.needs_manual_grade:
                # nbgrader leaves auto_score empty for an answer that was written
                manual.append(ManualAnswer(grade.name, float(grade.max_score),
                                           answered=grade.auto_score is None))
            else:
                points, top = float(grade.auto_score or 0), float(grade.max_score)
                tests.append(TestScore(grade.name, points, top, status(points, top),
                                       messages.get(grade.name, "")))
    return tests, manual


def merge_result(out, result, cells, roster, graded, spec=None):
    """Put one hand-in's scores (a Result) into OUT/gradebook.db (manual grades already
    given stay). graded: whether the hand-in could be graded at all."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning
    # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings.
    warnings.simplefilter("ignore", SAWarning)
    assignment_id, notebook_id = _ids(spec)
    sid = result.student_id
    with Gradebook(_db(out)) as gb:
        gb.update_or_create_student(sid, **roster.get(sid, {}))
        timestamp = datetime.datetime.fromtimestamp(result.mtime,
                                                    datetime.timezone.utc).replace(tzinfo=None)
        try:
            submission = gb.find_submission(assignment_id, sid)
            submission.timestamp = timestamp
        except MissingEntry:
            gb.add_submission(assignment_id, sid, timestamp=timestamp)
        scores = result.scores
        answered_ids = {m.name for m in result.manual if m.answered}
        for c in cells:
            grade = gb.find_grade(c.grade_id, notebook_id, assignment_id, sid)
            if c.kind == "auto":
                grade.auto_score = scores.get(c.grade_id, 0.0) if graded else 0.0
                grade.needs_manual_grade = False
            else:
                answered = graded and c.grade_id in answered_ids
                grade.auto_score = None if answered else 0.0
                grade.needs_manual_grade = answered and grade.manual_score is None
        gb.db.commit()


def manual_scores(out, spec=None):
    """{student: manual points given so far in the gradebook (None if some are still open)}."""
    from nbgrader.api import Gradebook
    assignment_id, _ = _ids(spec)
    scores = {}
    with Gradebook(_db(out)) as gb:
        for sub in gb.assignment_submissions(assignment_id):
            total, complete = 0.0, True
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type == "markdown":
                        if grade.manual_score is not None:
                            total += grade.manual_score
                        elif grade.auto_score is None:
                            complete = False
            scores[sub.student.id] = total if complete else None
    return scores
