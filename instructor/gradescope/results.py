"""A grading Result as Gradescope's results.json.

One Gradescope test per automatically graded test cell of the notebook, in the
notebook's order, with its points, passed/failed and the message (and, where
the grader has one, the diagnosis) for the student. Answers graded by hand (the
inline questions, if any) are not here: on Gradescope they are a manually graded
question of their own.

Hidden tests: a test cell with a hidden part gets the visibility chosen when
the autograder was built (after_published by default: its score and message
appear once the instructor publishes the grades); the others are visible at
once. No output ever quotes a line of a hidden test.
"""
from instructor.grade.job import GRADED, GRADER_ERROR, NOT_GRADED, WITH_PROBLEMS

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
HIDDEN_MESSAGE = "(a hidden test failed; its details are not shown)"
MANUAL_NOTE = ("The written answers (inline questions) are graded by hand, in a question "
               "of their own.")


def _num(x):
    x = float(x)
    return int(x) if x.is_integer() else round(x, 3)


def scrub(text, secret_lines):
    """text, or HIDDEN_MESSAGE if it quotes a line of a hidden test."""
    if any(s and s in text for s in secret_lines):
        return HIDDEN_MESSAGE
    return text


def test_output(test):
    """What the student reads about one test: its message and diagnosis."""
    parts = []
    if test.status == "passed":
        parts.append("Passed.")
    elif test.message:
        parts.append(test.message)
    else:
        parts.append("Failed.")
    diagnosis = getattr(test, "diagnosis", "")   # given by graders that diagnose mistakes
    if diagnosis:
        parts.append(str(diagnosis))
    return "\n".join(parts)


def overall_output(result, score, auto_max, upload_hint, show_score=True, silent=(),
                   manual=True):
    """The text above the tests: the score (unless some tests are not shown yet: it
    would give them away), the limits hit and the repairs made, and (manual: the
    assignment has answers graded by hand) where those are graded. Notes about the
    tests in silent (shown only later) are left out: students see this text at once."""
    lines = []
    notes = [n for n in result.notes if not any(n.startswith(f"{name}:") for name in silent)]
    if result.status == NOT_GRADED:
        lines.append("Your submission could not be graded, so it scores 0.")
        lines += [f"- {n}" for n in notes]
        lines += ["", upload_hint]
    elif result.status == GRADER_ERROR:
        lines.append("The autograder failed on its side, not because of your submission; "
                     "your instructor can see the details and will grade it again.")
    else:
        lines.append(f"Automatic score: {_num(score)} / {_num(auto_max)}." if show_score else
                     "Graded. Some tests are shown with your score only once your instructor "
                     "publishes the grades.")
        if notes:
            lines += ["", "What the grader noticed (limits hit, files repaired):"]
            lines += [f"- {n}" for n in notes]
        if manual:
            lines += ["", MANUAL_NOTE]
    return "\n".join(lines)


def results_json(result, cells, hidden_tests, secret_lines, hidden_visibility="after_published",
                 upload_hint=""):
    """Gradescope's results.json (a dict) for a Result.

    Inputs:
    - result: a grade.job.Result
    - cells: the [GradeCell] of the assignment; those of kind 'auto' become tests
    - hidden_tests: grade ids of the test cells with hidden tests
    - secret_lines: the lines of the hidden tests, never to be shown
    - hidden_visibility: the visibility of the tests in hidden_tests
    Returns: a dict, ready for json.dump.
    """
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    graded = result.status in (GRADED, WITH_PROBLEMS)
    by_name = {t.name: t for t in result.tests} if graded else {}
    tests, total = [], 0.0
    auto = [c for c in cells if c.kind == "auto"]
    for number, cell in enumerate(auto, 1):
        top = float(cell.points)
        t = by_name.get(cell.grade_id)
        if t is None:
            score, status = 0.0, "failed"
            output = {NOT_GRADED: "Not run: your submission could not be graded (see above).",
                      GRADER_ERROR: "Not run: the autograder failed (see above)."}.get(
                          result.status, "Not run (no score was recorded for this test).")
        else:
            score = min(max(float(t.points or 0), 0.0), top)   # only what makes sense
            status = "passed" if score >= top else "failed"
            output = test_output(t)
        total += score
        entry = {"name": cell.grade_id, "number": str(number), "score": _num(score),
                 "max_score": _num(top), "status": status,
                 "output": scrub(output, secret_lines), "output_format": "text"}
        if cell.grade_id in hidden_tests:
            entry["visibility"] = hidden_visibility
        tests.append(entry)
    auto_max = sum(c.points for c in auto)
    return {
        "score": _num(total),
        "execution_time": int(round(result.seconds)),
        "output": scrub(overall_output(result, total, auto_max, upload_hint,
                                       show_score=hidden_visibility == "visible"
                                       or not hidden_tests,
                                       silent=() if hidden_visibility == "visible"
                                       else set(hidden_tests),
                                       manual=any(c.kind == "manual" for c in cells)),
                       secret_lines),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"status": result.status, "fingerprint": result.fingerprint,
                       "sha256": result.sha256},
    }
