"""Run the checks of a graded cell on one hand-in and turn the outcome into a verdict.

Generic: the checks of each cell, and which are hidden, come from the assignment's
spec (instructor/assignment). A check sees the hand-in as a Subject: the
student's routines by role (real ones, or proxies into a sandboxed worker), the
text of their files (read, never executed), the notebook's values as the grader
read them, and the grader's own data.

grade_cell never raises. Its message is what the student reads: the first
failing check's diagnosis. A hidden check's message never quotes its source,
its problems or anything the student's code said (an exception's message, a
value): only the named mistake from the catalogue, or a plain sentence.

grade_cells judges several cells in two rounds: every visible check of every cell
first, the hidden checks after. The student's code keeps its state between calls (a
worker serves them all), so it could remember a hidden problem and repeat it in the
message of a later visible check, which is shown as it is; with the two rounds, no
hidden input has reached it while anything it says can still be shown.
"""
import dataclasses
import warnings

import numpy as np

from instructor.assignment import spec as assignment_spec
from instructor.assignment.model import resolve


class Subject:
    """One hand-in as the checks see it: subject.<role> is a routine of the spec
    (a function, or a class to make objects with), plus sources, results, data."""

    def __init__(self, routines, sources=None, results=None, data=None):
        self.routines = dict(routines)
        self.sources = dict(sources or {})
        self.results = results
        self.data = data

    def __getattr__(self, role):
        routines = self.__dict__.get("routines", {})
        if role in routines:
            return routines[role]
        raise AttributeError(f"the hand-in has no routine {role!r}")


@dataclasses.dataclass
class Verdict:
    grade_id: str
    passed: bool
    message: str                    # the first failing check's diagnosis; "" if passed


def _chain(error):
    """The exception and those it was raised from or while handling (bounded)."""
    seen = []
    while error is not None and len(seen) < 10 and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _boundary_message(error, hidden):
    """The message for a worker that timed out, crashed or ran out of time, or None."""
    from instructor.boundary.client import BoundaryError, BudgetSpent, StudentError
    for e in _chain(error):
        if isinstance(e, StudentError):
            continue   # a student's exception that merely borrows the name
        if isinstance(e, BoundaryError) or type(e).__name__ in ("WorkerTimeout",
                                                                 "WorkerCrashed"):
            function = getattr(error, "function", None) or "your code"
            detail = "" if hidden else (str(e).splitlines()[0][:300] if str(e) else "")
            if isinstance(e, BudgetSpent):
                return (f"{function}: too slow: the time allowed for all the checks of this "
                        "hand-in ran out before this one could run. Look for work far "
                        "larger than the problem, or a loop that never ends.")
            if type(e).__name__ == "WorkerTimeout":
                return (f"{function} did not finish in the time allowed and was stopped"
                        f"{': ' + detail if detail else ''}. Look for a loop that never ends "
                        "or work far larger than the problem.")
            if type(e).__name__ == "WorkerCrashed":
                return (f"the process running {function} crashed"
                        f"{': ' + detail if detail else ''}. Look for memory use far beyond "
                        "the problem's size, or code that ends the process.")
            return (f"the grader could not use the answer of {function}"
                    f"{': ' + detail if detail else ''}.")
    return None


def _catalogue(spec):
    ref = spec.mistakes.catalogue
    try:
        return resolve(ref, spec.root) if ref else {}
    except (ImportError, AttributeError):
        return {}


def _hidden_message(error, spec):
    """What a failing hidden check may tell: a named mistake, never its problem's numbers
    nor anything the student's code produced."""
    function = getattr(error, "function", None) or "your code"
    mistake = getattr(error, "mistake", None)
    if isinstance(error, AssertionError) and mistake is not None:
        if getattr(error, "shown_as_is", False):
            return str(error)
        catalogue = _catalogue(spec)
        if mistake in catalogue:
            return f"{function}: {catalogue[mistake]}"
        if mistake == "not_implemented":
            return "\n".join(str(error).splitlines()[:1])
        if mistake == "raised":
            cause = next((type(e).__name__ for e in _chain(error)[1:]), "an exception")
            return (f"{function} raised {cause} in a further check on a problem the grader "
                    "does not show. Look at: its handling of other sizes and values.")
        return (f"{function} gave a wrong result in a further check on a problem the grader "
                f"does not show ({mistake}).")
    return (f"a further check of {function} could not run: your code raised "
            f"{type(error).__name__}.")


def _visible_message(error):
    if isinstance(error, AssertionError):
        return str(error) or f"a check failed ({type(error).__name__})."
    return f"the check could not run: {type(error).__name__}: {error}"[:2000]


def grade_cell(grade_id, subject, spec=None):
    """
    Run the checks of one auto-graded cell on a hand-in.

    Inputs:
    - grade_id: a graded cell of the spec.
    - subject: the hand-in (Subject).
    - spec: the AssignmentSpec (default: the current assignment's).

    Returns a Verdict; never raises (a check raising anything fails the cell with
    a message that says what happened).
    """
    return grade_cells([grade_id], subject, spec)[grade_id]


def grade_cells(grade_ids, subject, spec=None):
    """{grade_id: Verdict} for the cells grade_ids, as grade_cell judges each, in two
    rounds: the visible checks of all of them, then the hidden checks of the cells
    still passing (see the module's doc). Never raises."""
    spec = spec or assignment_spec()
    plans, verdicts = {}, {}
    for grade_id in grade_ids:
        try:
            plans[grade_id] = list(spec.checks(grade_id))
        except KeyError:
            verdicts[grade_id] = Verdict(grade_id, False,
                                         f"no checks are defined for the cell {grade_id!r}.")
    for hidden_round in (False, True):
        for grade_id, tests in plans.items():
            if grade_id in verdicts:
                continue
            for check in tests:
                if bool(getattr(check, "hidden", False)) != hidden_round:
                    continue
                message = _run_check(check, subject, spec)
                if message is not None:
                    verdicts[grade_id] = Verdict(grade_id, False, message)
                    break
    return {g: verdicts.get(g) or Verdict(g, True, "") for g in grade_ids}


def _run_check(check, subject, spec):
    """None if the check passes, else the message the student reads."""
    try:
        # Warnings of student code must not reach the grader's log as errors.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(subject)
    except (Exception, SystemExit) as error:  # anything at all: a failed verdict
        hidden = getattr(check, "hidden", False)
        try:
            message = _boundary_message(error, hidden)
            if message is None:
                message = (_hidden_message(error, spec) if hidden
                           else _visible_message(error))
        except Exception:  # a student exception whose str() itself raises
            message = f"a check failed: {type(error).__name__}."
        return message
    return None
