"""Two hand-ins aimed at the trusted phase, graded in real batches with the jail.

- slow: every function of the student's files sleeps just under the per-call limit
  when it runs outside the notebook's kernel (the notebook itself passes). Graded with
  a small --call-timeout and --trusted-budget, it must get a final grade with the
  remaining checks "too slow", within bounded time, and a re-run must not regrade it.
- recorder: a forgery whose losses remember every input they are called with (in a
  module variable, and printed) and answer as the solution does, until a problem comes
  again: then they raise an exception whose message is everything recorded so far. No hidden input may reach a feedback page,
  grades.csv or the results JSON; each hand-in of a run without HIDDEN_SEED draws its
  own hidden problems, and a fixed HIDDEN_SEED gives identical verdicts. Its builder is
  in tests/corpus/variants.py; the run without HIDDEN_SEED is the corpus's batch.

    pytest tests/test_trusted_phase_batch.py -m slow     # the corpus's batch and two small ones
"""
import json
import re
import time

import pytest

from helpers import read_grades, run_autograde, scores
from instructor.boundary.jail import bwrap_available
from variants import RECORDERS, Ctx, hooked_handin, recorder_handin

PROBE = bwrap_available()
pytestmark = [pytest.mark.slow, pytest.mark.jail,
              pytest.mark.skipif(not PROBE, reason=f"bubblewrap cannot run here: "
                                                   f"{getattr(PROBE, 'reason', '')}")]

CALL_TIMEOUT, BUDGET, SLEEP = 3, 10, 2.0
FINAL = ("graded", "graded-with-problems")

# Sleeps only outside the notebook's kernel: the notebook's own checks stay fast.
SLOW_HEAD = f"""
import sys as _sys
import time as _time


def _slow():
    if "ipykernel" not in _sys.modules:
        _time.sleep({SLEEP})
"""

def _slow_handin(ctx, path):
    hooked_handin(ctx, path, SLOW_HEAD, "_slow()", "_slow()")


def _outputs(out, sid):
    """Everything a student or a spreadsheet sees of one hand-in, as text."""
    page = "".join(p.read_text(errors="replace")
                   for p in (out / "feedback").rglob("*") if p.is_file() and sid in str(p))
    result = (out / "results" / f"{sid}.json").read_text()
    row = read_grades(out)[sid]
    return {"feedback": page, "results": result, "notes": row["notes"]}


def _signatures(text):
    return set(re.findall(r"SEEN<[^>]*>", text))


def _batch(subs, out, env_seed, *args):
    import os
    old = os.environ.get("HIDDEN_SEED")
    if env_seed is None:
        os.environ.pop("HIDDEN_SEED", None)
    else:
        os.environ["HIDDEN_SEED"] = str(env_seed)
    try:
        started = time.monotonic()
        proc = run_autograde(subs, out, "--jobs", "2", "--sandbox", "namespaces", *args,
                             synthetic=_batch.data, timeout=2400)
        took = time.monotonic() - started
    finally:
        if old is None:
            os.environ.pop("HIDDEN_SEED", None)
        else:
            os.environ["HIDDEN_SEED"] = old
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, took


@pytest.fixture(scope="session")
def slow_run(tmp_path_factory, synthetic_cifar, dist):
    _batch.data = synthetic_cifar
    subs = tmp_path_factory.mktemp("slow-subs")
    _slow_handin(Ctx(dist, synthetic_cifar), subs / "softmax_slow-worker.zip")
    out = tmp_path_factory.mktemp("slow-grading") / "out"
    limits = ("--call-timeout", str(CALL_TIMEOUT), "--trusted-budget", str(BUDGET))
    first, took = _batch(subs, out, 11, *limits)
    results = (out / "results" / "slow-worker.json").read_text()
    again, took_again = _batch(subs, out, 11, *limits)
    return out, took, results, again, took_again


@pytest.fixture(scope="session")
def recorder_runs(tmp_path_factory, synthetic_cifar, dist, corpus_batch):
    """Two copies of the recorder in a batch without HIDDEN_SEED (the corpus's batch,
    tests/conftest.py), two in one with it."""
    _batch.data = synthetic_cifar
    ctx = Ctx(dist, synthetic_cifar)
    runs = {"drawn": corpus_batch["out"]}
    subs = tmp_path_factory.mktemp("rec-fixed")
    for sid in RECORDERS:
        recorder_handin(ctx, subs / f"softmax_{sid}.zip")
    out = tmp_path_factory.mktemp("rec-fixed-grading") / "out"
    _batch(subs, out, 4242)
    runs["fixed"] = out
    return runs


# ---- the slow worker ----------------------------------------------------------------------
def test_slow_worker_gets_a_final_grade_with_too_slow(slow_run):
    out, took, results, _, _ = slow_run
    row = read_grades(out)["slow-worker"]
    result = json.loads(results)
    detail = f"{row['status']} {scores(row)}; notes: {row['notes']}"
    assert row["status"] in FINAL, detail
    assert result["status"] in FINAL, detail
    assert "too slow" in row["notes"], detail
    page = _outputs(out, "slow-worker")["feedback"]
    assert "too slow" in page
    # Some checks ran out of time: not every automatic point.
    failed = [t for t in result["tests"] if t["status"] != "passed"]
    assert failed and any("too slow" in t["message"] for t in failed), detail


def test_slow_worker_is_bounded_by_the_budget_not_the_timeout(slow_run):
    out, took, results, _, _ = slow_run
    result = json.loads(results)
    # Generous: far below the hand-in's timeout (1800 s) plus grace, whatever the load.
    assert took < 900, took
    assert result["phases"].get("trusted checks", 0) < 300, result["phases"]


def test_slow_worker_is_not_regraded(slow_run):
    out, took, results, again, took_again = slow_run
    assert "1 already" in again.stdout, again.stdout[-2000:]
    assert (out / "results" / "slow-worker.json").read_text() == results


# ---- the recorder -----------------------------------------------------------------------
def _hidden_signatures(log_a, log_b):
    """The recorded inputs of one hand-in that the other did not see: the visible
    problems are the same for everyone, so these come from the hidden ones."""
    return _signatures(log_a) - _signatures(log_b)


def _log(out, sid):
    return (out / "logs" / f"{sid}.log").read_text(errors="replace")


def test_recorder_gets_a_final_grade(recorder_runs):
    for out in recorder_runs.values():
        for sid in ("rec-a", "rec-b"):
            row = read_grades(out)[sid]
            assert row["status"] in FINAL, (sid, row["status"], row["notes"])
            assert _signatures(_log(out, sid)), "the recorder was never called"


def test_hidden_problems_differ_without_a_fixed_seed(recorder_runs):
    out = recorder_runs["drawn"]
    a, b = _log(out, "rec-a"), _log(out, "rec-b")
    assert _hidden_signatures(a, b) and _hidden_signatures(b, a)
    assert _signatures(a) & _signatures(b), "the visible problems should be shared"


def test_fixed_seed_gives_identical_problems_and_verdicts(recorder_runs):
    out = recorder_runs["fixed"]
    rows = read_grades(out)
    assert _signatures(_log(out, "rec-a")) == _signatures(_log(out, "rec-b"))
    assert scores(rows["rec-a"]) == scores(rows["rec-b"])
    assert rows["rec-a"]["notes"] == rows["rec-b"]["notes"]
    tests = [json.loads((out / "results" / f"{sid}.json").read_text())["tests"]
             for sid in ("rec-a", "rec-b")]
    assert tests[0] == tests[1]


def _digests(signatures):
    return {d for s in signatures for d in re.findall(r"#([0-9a-f]{12})", s)}


def test_no_hidden_input_is_shown(recorder_runs):
    out = recorder_runs["drawn"]
    logs = {sid: _log(out, sid) for sid in ("rec-a", "rec-b")}
    shared = _digests(_signatures(logs["rec-a"]) & _signatures(logs["rec-b"]))
    for sid, other in (("rec-a", "rec-b"), ("rec-b", "rec-a")):
        # Arrays only this hand-in was given (not also part of a visible problem).
        hidden = _digests(_hidden_signatures(logs[sid], logs[other])) - shared
        assert len(hidden) > 5
        shown = _outputs(out, sid)
        for where, text in shown.items():
            leaked = sorted(d for d in hidden if d in text)
            assert not leaked, (sid, where, leaked)
        # The recorder's own messages do reach the page, for the visible problems.
        assert "recorded inputs" in shown["feedback"] and "recorded inputs" in shown["results"]
