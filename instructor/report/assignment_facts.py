"""The facts about this assignment that the class report needs, as data.

Everything else the report reads generically from a grading run's results.
This table belongs with the assignment's specification: keep it in step with
the notebook's test cells (grade ids) and with cs231n/checks.py.
"""

# Test cell -> the earlier test cells whose code it runs. A failure of the cell
# while one of these failed too is a knock-on failure: most likely the earlier
# mistake, not a new one (the sweep trains with the vectorized loss and SGD; the
# test accuracy is that of the sweep's best classifier).
DEPENDS_ON = {
    "test_naive_grad": ["test_naive_loss"],
    "test_sgd": ["test_vectorized"],
    "test_sweep": ["test_vectorized", "test_sgd"],
    "test_accuracy": ["test_sweep"],
}


def named_mistakes():
    """{mistake id: the explanation students read} for every mistake the checks name."""
    from cs231n.checks import MISTAKES
    return dict(MISTAKES)
