"""A hand-in's outputs cannot make a grader error: invalid display data, streams and
errors become a note and an inert placeholder; the notebook stays valid."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from instructor.feedback.inert import make_inert
from instructor.grade.execute import GuardedExecute, output_problem, output_size

OK = [
    ("stream", {"name": "stdout", "text": "hi"}),
    ("stream", {"name": "stderr", "text": ["a", "b"]}),
    ("display_data", {"data": {"text/plain": "x", "image/png": "iVBOR"}, "metadata": {}}),
    ("display_data", {"data": {"application/json": {"a": [1, 2]}}, "metadata": {}}),
    ("display_data", {"data": {"application/vnd.custom+json": [1]}, "metadata": {}}),
    ("execute_result", {"data": {"text/plain": "1"}, "metadata": {}, "execution_count": 3}),
    ("error", {"ename": "E", "evalue": "v", "traceback": ["t"]}),
]
BAD = [
    ("display_data", {"data": {"text/plain": {"a": 1}}, "metadata": {}}, "text/plain data of type dict"),
    ("display_data", {"data": {"text/html": 5}, "metadata": {}}, "text/html data of type int"),
    ("display_data", {"data": [1, 2], "metadata": {}}, "not a mime bundle"),
    ("display_data", {"data": {"text/plain": "x"}, "metadata": [1]}, "metadata"),
    ("display_data", {"data": {"noslash": "x"}, "metadata": {}}, "mime type"),
    ("execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": "3"},
     "execution count"),
    ("stream", {"name": "stdin", "text": "x"}, "stream other than"),
    ("stream", {"name": "stdout", "text": 5}, "not text"),
    ("error", {"ename": "E", "evalue": 5, "traceback": []}, "not text"),
    ("error", {"ename": "E", "evalue": "v", "traceback": [1]}, "not text"),
    ("display_data", "nonsense", "not a JSON object"),
]


@pytest.mark.parametrize("kind, content", OK)
def test_valid_outputs_pass(kind, content):
    assert output_problem({"msg_type": kind, "content": content}) is None
    out = nbformat.v4.output_from_msg({"msg_type": kind, "content": content,
                                       "header": {"msg_type": kind}})
    assert out is not None


@pytest.mark.parametrize("kind, content, reason", BAD)
def test_invalid_outputs_are_named(kind, content, reason):
    problem = output_problem({"msg_type": kind, "content": content})
    assert problem is not None and reason in problem


def test_an_unmeasurable_output_counts_as_too_big():
    deep = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    assert output_size({"msg_type": "display_data", "content": deep}) > 10 ** 12


BROKEN = r'''
from IPython import get_ipython
pub = get_ipython().display_pub
pub.publish({"text/plain": {"a dict": 1}})
pub.publish({"text/html": 42, "text/plain": "fine"})
pub.publish({"text/plain": {"a dict": 1}})
k = get_ipython().kernel
def send(kind, content):
    k.session.send(k.iopub_socket, kind, content, parent=k.get_parent("shell"))
send("display_data", {"data": {"text/plain": "ok"}, "metadata": [1, 2]})
send("stream", {"name": "stdin", "text": "x"})
send("execute_result", {"data": "not a bundle", "metadata": {}, "execution_count": 1})
send("error", {"ename": "E", "evalue": {"v": 1}, "traceback": []})
from IPython.display import display
h = display("shown", display_id=True)
send("update_display_data", {"data": {"text/plain": {"x": 1}}, "metadata": {},
                             "transient": {"display_id": h.display_id}})
print("still running")
'''


@pytest.mark.slow
def test_broken_display_data_becomes_a_placeholder(tmp_path):
    nb = new_notebook(cells=[new_code_cell(BROKEN), new_code_cell("print('next cell')")])
    ex = GuardedExecute(kernel_name="python3", timeout=120, startup_timeout=120,
                        events_file=str(tmp_path / "events.jsonl"))
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    events = [json.loads(l) for l in (tmp_path / "events.jsonl").read_text().splitlines()]
    bad = [e for e in events if e["kind"] == "bad-output"]
    assert len(bad) == 6, bad          # one per cell and reason (the update repeats one)
    outputs = nb.cells[0].outputs
    texts = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "still running" in texts
    assert texts.count("[an output was removed by the grader") == 6
    assert "shown" in json.dumps(nb.cells[0].outputs)        # the update was not applied
    assert nb.cells[1].outputs[0].text == "next cell\n"
    nbformat.validate(nb)
    make_inert(nb)
    nbformat.validate(nb)
    assert not any(o.output_type == "error" for c in nb.cells for o in c.outputs)


MALFORMED_OUTPUTS = [
    {"output_type": "display_data", "data": {"text/plain": {"a": 1}}, "metadata": {}},
    {"output_type": "display_data", "data": [1, 2], "metadata": []},
    {"output_type": "execute_result", "data": {"text/html": 5}, "execution_count": "x"},
    {"output_type": "error", "ename": 1, "evalue": {"v": 2}, "traceback": "not a list"},
    {"output_type": "stream", "name": "stdin", "text": 7},
    {"output_type": "unknown"},
    "not an output",
]


def test_make_inert_turns_any_malformed_notebook_into_a_valid_one():
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": [],
          "cells": [{"cell_type": "code", "source": "x", "metadata": None, "id": "a",
                     "execution_count": None, "outputs": MALFORMED_OUTPUTS},
                    {"cell_type": "markdown", "source": ["<b>", "x"], "metadata": {},
                     "id": "b", "attachments": ["nope"]},
                    "not a cell"]}
    make_inert(nb)
    nbformat.validate(nbformat.from_dict(nb))
    text = json.dumps(nb)
    assert "{'a': 1}" in text and "not a mime bundle" in text


def test_rebuild_takes_any_malformed_student_notebook(tmp_path):
    """A notebook whose cells have broken metadata, sources, outputs or attachments is
    rebuilt into a valid one (the release's cells with the student's sources)."""
    from helpers import REPO
    from instructor.handin.rebuild import rebuild
    release = nbformat.read(str(REPO / "softmax.ipynb"), as_version=4)
    answer = next(c for c in release.cells if c.cell_type == "markdown"
                  and c.metadata.get("nbgrader", {}).get("solution"))
    gid = answer.metadata["nbgrader"]["grade_id"]
    student = [
        {"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": gid}},
         "source": ["my answer ", 42], "attachments": {"a.png": {"image/png": {"x": 1}},
                                                      "b": ["not", "a", "bundle"]}},
        {"cell_type": "code", "metadata": "not a dict", "source": "x = 1",
         "outputs": [{"output_type": "display_data", "data": {"text/plain": {"a": 1}}}]},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": 7}}, "source": None},
        "not a cell",
    ]
    nb, notes = rebuild(student, release)
    nbformat.validate(nb)
    mine = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    assert mine.source == "my answer 42" and "attachments" not in mine
    assert any("attachments" in n for n in notes)
    assert any(c.source == "x = 1" and c.outputs == [] for c in nb.cells if c.cell_type == "code")
