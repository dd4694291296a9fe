"""The corpus (variants.py) graded in ONE real batch with the jail (tests/conftest.py's
corpus_batch, shared with the trusted phase's recorder): every correct variant gets every
automatic point, every forgery no more than it earns, nothing is a grader error.

    pytest tests/corpus -m slow            # about 25 hand-ins: several minutes on 2 cores
"""
import json

import pytest

from helpers import AUTO_MAX, read_grades, scores
from instructor.boundary.jail import bwrap_available
from variants import VARIANTS

PROBE = bwrap_available()
pytestmark = [pytest.mark.slow, pytest.mark.jail,
              pytest.mark.skipif(not PROBE, reason=f"bubblewrap cannot run here: "
                                                   f"{getattr(PROBE, 'reason', '')}")]


@pytest.fixture(scope="session")
def corpus(corpus_batch):
    """The corpus's rows of the batch (tests/conftest.py, which grades the trusted phase's
    recorder alongside), with a table of what each variant got."""
    out, names = corpus_batch["out"], corpus_batch["names"]
    rows = read_grades(out)
    table = []
    for name, variant in VARIANTS.items():
        row = rows[names[name]]
        table.append(f"{name:22s} {row['total']:>4s} / {AUTO_MAX}  expected "
                     f"{'=' if variant.correct else '<='} {variant.expected:<3d} "
                     f"{row['status']}")
    print("\n" + "\n".join(table))
    (out / "corpus-table.txt").write_text("\n".join(table) + "\n")
    return rows, names, out


def _params():
    for name, variant in VARIANTS.items():
        marks = [pytest.mark.xfail(strict=True, reason=variant.xfail)] if variant.xfail else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_variant_gets_what_it_earns(corpus, name):
    rows, names, out = corpus
    variant = VARIANTS[name]
    row = rows[names[name]]
    detail = f"{name}: {row['total']} ({row['status']}) {scores(row)}; notes: {row['notes']}"
    assert row["status"] in ("graded", "graded-with-problems"), detail
    total = float(row["total"])
    if variant.correct:
        assert total == variant.expected, detail
    else:
        assert total <= variant.expected, detail
    if variant.note:
        assert variant.note in row["notes"], detail


def test_no_grader_error_and_every_result_is_final(corpus):
    rows, names, out = corpus
    for name, sid in names.items():
        result = json.loads((out / "results" / f"{sid}.json").read_text())
        assert result["status"] != "grader-error", (name, result["notes"])
