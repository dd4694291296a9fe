"""One real end-to-end grade, kept in the fast tier: the release is built, a solved
hand-in is made from it as a student would hand it in, and `python -m instructor
autograde` grades it (in the jail wherever one can run) with real nbgrader on the
synthetic data set. The slow tier grades whole batches; this is the one run a
developer gets on every `make test`.
"""
import json

from helpers import (AUTO_MAX, TESTS, assert_no_hidden_tests, handin, read_grades,
                     run_autograde, scores)


def test_one_solved_handin_is_graded_end_to_end(tmp_path, dist, synthetic_cifar):
    subs = tmp_path / "handins"
    subs.mkdir()
    handin(subs / "softmax_ada.zip", dist)
    out = tmp_path / "out"

    proc = run_autograde(subs, out, "--jobs", "1", synthetic=synthetic_cifar)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = read_grades(out)["ada"]
    assert row["status"] == "graded", row["notes"]
    assert scores(row) == {t: float(p) for t, p in TESTS.items()}
    assert float(row["total"]) == AUTO_MAX
    result = json.loads((out / "results" / "ada.json").read_text())
    assert result["student_id"] == "ada"
    page = out / "feedback" / "ada" / "softmax.html"
    assert_no_hidden_tests(page)
    assert f"{AUTO_MAX:g} / {AUTO_MAX:g}" in page.read_text()
