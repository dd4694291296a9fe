"""The trusted phase's time limits: options, their travel in a job, the cap by the
hand-in's timeout, and the worker's output in the instructor's log."""
import argparse
import os
import subprocess
import sys

import pytest

from helpers import REPO
from instructor.grade import one, trusted
from instructor.grade.job import Job, Limits, add_limit_options, from_json, limits_from_args, \
    to_json


@pytest.mark.parametrize("command", ["autograde", "gradescope"])
def test_the_help_states_both_limits_with_their_defaults(command):
    proc = subprocess.run([sys.executable, "-m", "instructor", command, "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert f"(default: {Limits().call_timeout})" in text.split("--call-timeout", 1)[1]
    assert f"(default: {Limits().trusted_budget})" in text.split("--trusted-budget", 1)[1]
    assert f"get {trusted.TRUSTED_BUDGET} s in all" in text
    assert "too slow" in text


@pytest.mark.parametrize("argv, expected", [
    ([], (Limits().call_timeout, Limits().trusted_budget)),
    (["--call-timeout", "3", "--trusted-budget", "10"], (3, 10)),
])
def test_the_options_set_the_limits(argv, expected):
    ap = argparse.ArgumentParser()
    add_limit_options(ap)
    limits, error = limits_from_args(ap.parse_args(argv))
    assert error is None
    assert (limits.call_timeout, limits.trusted_budget) == expected


@pytest.mark.parametrize("flag", ["--call-timeout", "--trusted-budget"])
def test_a_limit_below_one_second_is_refused_with_its_name(flag):
    ap = argparse.ArgumentParser()
    add_limit_options(ap)
    limits, error = limits_from_args(ap.parse_args([flag, "0"]))
    assert limits is None and flag in error


def test_the_limits_travel_with_the_job():
    job = Job("s1", "s1.zip", b"zip", "0" * 64, 0.0, limits=Limits(call_timeout=7,
                                                                     trusted_budget=33))
    back = from_json(Job, to_json(job))
    assert (back.limits.call_timeout, back.limits.trusted_budget) == (7, 33)


@pytest.mark.parametrize("elapsed, budget, expected", [
    (0, 900, 900.0),                               # time enough: the job's budget
    (1700, 900, 1800 + one.GRACE / 2 - 1700),      # the hand-in's time left decides
    (1800 + one.GRACE, 900, 1.0),                  # past it: one second, then too slow
    (100, 5, 5.0),
])
def test_the_budget_never_reaches_past_the_handins_timeout(elapsed, budget, expected):
    job = Job("s1", "s1.zip", b"", "", 0.0,
              limits=Limits(timeout=1800, trusted_budget=budget))
    assert one.trusted_budget(job, 1000.0, now=1000.0 + elapsed) == pytest.approx(expected)
    # Whatever the budget, the trusted phase ends before the batch kills the worker.
    assert 1000.0 + elapsed + one.trusted_budget(job, 1000.0, now=1000.0 + elapsed) \
        < 1000.0 + 1800 + one.GRACE or elapsed >= 1800 + one.GRACE


def test_the_workers_output_is_logged_from_its_end(tmp_path, capsys):
    path = tmp_path / trusted.WORKER_OUTPUT
    path.write_bytes(b"first\n" + b"x" * 100 + b"\nlast line\n")
    trusted._log_worker_output(str(path), keep=20)
    out = capsys.readouterr().out
    assert "last line" in out and "first" not in out and "bytes cut" in out


@pytest.mark.parametrize("kind", ["link", "fifo", "missing"])
def test_a_worker_output_that_is_not_a_plain_file_is_not_read(tmp_path, capsys, kind):
    secret = tmp_path / "instructor-only.txt"
    secret.write_text("SECRET\n")
    path = tmp_path / trusted.WORKER_OUTPUT
    if kind == "link":
        os.symlink(secret, path)
    elif kind == "fifo":
        os.mkfifo(path)
    trusted._log_worker_output(str(path))
    assert capsys.readouterr().out == ""


# ---- the order of the checks: every visible one before any hidden one ----------------------
class _Spec:
    """A spec with cells of named checks; 'h...' names are hidden, '...!' ones fail."""

    class mistakes:
        catalogue = None

    def __init__(self, cells, calls):
        self.cells, self.calls = cells, calls

    def checks(self, grade_id):
        if grade_id not in self.cells:
            raise KeyError(grade_id)
        return [self._check(name) for name in self.cells[grade_id]]

    def _check(self, name):
        def check(subject):
            self.calls.append(name)
            if name.endswith("!"):
                raise AssertionError(f"{name} failed: student text")
        check.hidden = name.startswith("h")
        return check


@pytest.mark.parametrize("cells", [
    {"a": ["v1", "h1"], "b": ["v2", "h2", "h3"]},
    {"a": ["v1!", "h1"], "b": ["v2", "h2!", "h3"], "c": ["h4"]},
    {"a": ["v1", "h1!"], "b": ["v2!", "h2"], "c": ["v3", "v4", "h5"]},
])
def test_every_visible_check_runs_before_any_hidden_one(cells):
    from instructor.grade.verdicts import grade_cell, grade_cells
    calls = []
    spec = _Spec(cells, calls)
    verdicts = grade_cells(list(cells), None, spec)
    first_hidden = next((i for i, n in enumerate(calls) if n.startswith("h")), len(calls))
    assert all(n.startswith("v") for n in calls[:first_hidden])
    assert not any(n.startswith("v") for n in calls[first_hidden:])
    # The same verdicts as judging each cell alone; a failed cell runs nothing more.
    for grade_id, names in cells.items():
        alone = grade_cell(grade_id, None, _Spec(cells, []))
        assert (verdicts[grade_id].passed, verdicts[grade_id].message) == \
            (alone.passed, alone.message)
        failed = next((n for n in names if n.endswith("!")), None)
        if failed:
            assert not verdicts[grade_id].passed
            assert all(n not in calls for n in names[names.index(failed) + 1:])
    assert "student text" not in " ".join(v.message for g, v in verdicts.items()
                                           if any(n.startswith("h") and n.endswith("!")
                                                  for n in cells[g]))


def test_a_cell_without_checks_fails_with_its_name():
    from instructor.grade.verdicts import grade_cells
    verdicts = grade_cells(["x"], None, _Spec({}, []))
    assert not verdicts["x"].passed and "'x'" in verdicts["x"].message
