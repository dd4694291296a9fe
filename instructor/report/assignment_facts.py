"""The facts about the assignment that the class report needs, read from its spec
(instructor/assignment): which test cells rely on which, and the catalogue of
named mistakes. Everything else the report reads generically from a grading
run's results.
"""
from instructor.assignment import spec
from instructor.assignment.model import resolve


def depends_on():
    """{test cell: the earlier test cells whose code it runs}. A failure of the cell
    while one of these failed too is a knock-on failure: most likely the earlier
    mistake, not a new one."""
    return {grade_id: list(needs) for grade_id, needs in spec().depends}


def cell_order():
    """{test cell: its position among the graded cells, in the notebook's order}."""
    return {cell.grade_id: i for i, cell in enumerate(spec().cells)}


def named_mistakes():
    """{mistake id: the explanation students read} for every mistake the checks name."""
    return dict(resolve(spec().mistakes.catalogue))
