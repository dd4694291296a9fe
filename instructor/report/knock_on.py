"""Knock-on failures: a failed test explained by an earlier test that failed too.

The dependencies between test cells are the assignment's (its spec's `depends`, read
through assignment_facts.depends_on()); this module only follows them.
"""
from instructor.report import assignment_facts


def prerequisites(cell, depends_on=None):
    """Every test cell that `cell` relies on, directly or through another, in order found."""
    depends_on = assignment_facts.depends_on() if depends_on is None else depends_on
    seen, todo = [], list(depends_on.get(cell, []))
    while todo:
        c = todo.pop(0)
        if c not in seen and c != cell:
            seen.append(c)
            todo.extend(depends_on.get(c, []))
    return seen


def knock_on(failed, depends_on=None):
    """{failed cell: [earlier failed cells that explain it]} for the failures that follow
    others. failed: the names of the failed test cells of one hand-in (any iterable)."""
    failed = list(failed)
    order = assignment_facts.cell_order()
    out = {}
    for cell in failed:
        causes = [c for c in prerequisites(cell, depends_on) if c in failed]
        causes.sort(key=lambda c: order.get(c, len(order)))   # earliest in the notebook first
        if causes:
            out[cell] = causes
    return out


def knock_on_sentence(causes):
    """What the feedback page and the report say under a knock-on failure."""
    names = " and ".join(causes)
    return (f"This may be a knock-on failure: it relies on {names}, which failed too. "
            "Fix that first; this test may then pass as it is.")
