"""The sandbox's pieces one at a time: output caps of the execution step (a real
kernel, no jail), copies that never open special files, jail slots, the
--sandbox policy and the memory limit of the grader's own process."""
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from helpers import REPO
from instructor.boundary.jail import Probe
from instructor.grade.execute import GuardedExecute
from instructor.sandbox import policy
from instructor.sandbox.files import regular_files, tail
from instructor.sandbox.kernel import stage_folder
from instructor.sandbox.slots import jail_slot

CAP, TOTAL = 100_000, 250_000
SLACK = 8_000          # the grader's own note, a shortened error's message

SEND_ERRORS = """
k = get_ipython().kernel
for i in range(40):
    k.session.send(k.iopub_socket, "error", {"ename": "E", "evalue": "v" * 20000,
                   "traceback": ["t" * 20000]}, parent=k.get_parent("shell"))
"""
FLOODS = {
    "print": "print('p' * 1_000_000)",
    "many_prints": "for i in range(300):\n    print('q' * 5000)",
    "stderr": "import sys\nfor i in range(100):\n    print('s' * 5000, file=sys.stderr)",
    "display_update": ("from IPython.display import display\nh = display('small', display_id=True)\n"
                       "for i in range(20):\n    h.update('u' * 50_000)"),
    "clear_loop": ("from IPython.display import clear_output\nfor i in range(50):\n"
                   "    clear_output()\n    print('c' * 30_000)"),
    "error": "raise ValueError('e' * 1_000_000)",
    "sent_errors": SEND_ERRORS,
    "html": "from IPython.display import HTML, display\nfor i in range(40):\n    display(HTML('<b>h</b>' * 5000))",
}


def execute(tmp_path, sources, cap=CAP, total=TOTAL):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    ex = GuardedExecute(kernel_name="python3", max_output_bytes=cap,
                        max_notebook_output_bytes=total, timeout=120, startup_timeout=120,
                        events_file=str(tmp_path / "events.jsonl"))
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    events = [json.loads(l) for l in (tmp_path / "events.jsonl").read_text().splitlines()]
    return nb, [e for e in events if e["kind"] != "timing"]


def size(outputs):
    return len(json.dumps(outputs))


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    """Every flood in a cell of its own, each followed by a quiet cell (one kernel)."""
    kinds = sorted(FLOODS)
    sources = ["x = 1"]
    for kind in kinds:
        sources += [FLOODS[kind], f"print('after {kind}')"]
    nb, events = execute(tmp_path_factory.mktemp("flood"), sources, total=10 ** 9)
    return {kind: (nb.cells[1 + 2 * i], nb.cells[2 + 2 * i], 1 + 2 * i)
            for i, kind in enumerate(kinds)}, events


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_each_kind_of_output_is_capped_per_cell(flooded, kind):
    cells, events = flooded
    cell, after, index = cells[kind]
    flooded_outputs = cell.outputs
    assert size(flooded_outputs) <= CAP + SLACK, (kind, size(flooded_outputs))
    assert any("bytes of" in "".join(o.get("text", "")) for o in flooded_outputs), kind
    assert [e["kind"] for e in events if e["cell"] == index] == ["output-truncated"]
    # the cell after it runs and keeps its output
    # (its print may arrive as more than one stream message: compare the text)
    printed = "".join(o.get("text", "") for o in after.outputs if o["output_type"] == "stream")
    assert printed.rstrip("\n") == f"after {kind}", after.outputs
    if kind in ("error", "sent_errors", "stderr"):
        # the cell still fails, as it would have without the cap
        assert any(o["output_type"] == "error" or o.get("name") == "stderr"
                   for o in flooded_outputs)
    if kind == "sent_errors":
        assert sum(o["output_type"] == "error" for o in flooded_outputs) <= CAP // 40_000 + 1


def test_the_whole_notebook_is_capped_too(tmp_path):
    cell = "print('n' * 60_000)"          # each cell within its own cap
    nb, events = execute(tmp_path, [cell] * 10 + ["raise KeyError('k' * 90_000)"])
    total = sum(size(c.outputs) for c in nb.cells)
    assert total <= TOTAL + 11 * 300 + SLACK, total
    kept = [i for i, c in enumerate(nb.cells) if "n" * 60_000 in "".join(
        "".join(o.get("text", "")) for o in c.outputs)]
    assert kept == [0, 1, 2, 3]           # 4 x 60 000 fit in 250 000
    assert [e["kind"] for e in events] == ["output-total"] and events[0]["cell"] == 4
    assert "notebook's output reached" in nb.cells[5].outputs[-1]["text"]
    last = nb.cells[-1].outputs
    assert last[0]["output_type"] == "error" and last[0]["ename"] == "KeyError"
    assert size(last) < 2 * SLACK


def test_widget_messages_are_capped(tmp_path):
    pytest.importorskip("ipywidgets")
    nb, events = execute(tmp_path, ["import ipywidgets\nws = [ipywidgets.Text(value='w' * 20_000)"
                                    " for _ in range(40)]"])
    assert len(json.dumps(nb.metadata)) <= CAP + SLACK
    assert events and events[0]["kind"] == "output-truncated"


def test_honest_output_is_kept_whole(tmp_path):
    nb, events = execute(tmp_path, ["for i in range(100):\n    print(i)",
                                    "from IPython.display import display\n"
                                    "h = display('a', display_id=True)\nh.update('b')"])
    assert events == []
    assert "".join(o["text"] for o in nb.cells[0].outputs) == "".join(f"{i}\n" for i in range(100))
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "'b'"


# ---- special files -------------------------------------------------------------------------
@pytest.fixture
def special(tmp_path):
    folder = tmp_path / "handin"
    (folder / "cs231n").mkdir(parents=True)
    (folder / "cs231n" / "ok.py").write_text("x = 1\n")
    (folder / "softmax.ipynb").write_text("{}")
    os.mkfifo(folder / "cs231n" / "pipe.py")
    os.mkfifo(folder / "pipe.ipynb")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "cs231n" / "sock.py"))
    os.symlink("/etc/hostname", folder / "cs231n" / "link.py")
    (folder / "outside").symlink_to(tmp_path)
    yield folder
    sock.close()


def run_bounded(fn, *args):
    """fn(*args) in a thread; a FIFO opened for reading would block it for ever."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn(*args)), daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), f"{fn.__name__} blocked on a special file"
    return box["r"]


def test_copies_skip_pipes_sockets_and_links(special, tmp_path):
    files = run_bounded(regular_files, special)
    assert sorted(files) == ["cs231n/ok.py", "softmax.ipynb"]
    dest = tmp_path / "stage"
    run_bounded(stage_folder, special, special, dest, set())
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == \
        ["cs231n/ok.py"]
    assert run_bounded(tail, special / "pipe.ipynb", 100) == ""


def test_the_batch_never_writes_other_files_into_out():
    from instructor.grade.batch import _wanted_in_out
    assert _wanted_in_out("softmax.ipynb") and _wanted_in_out("cs231n/classifiers/softmax.py")
    for rel in ("fill.bin", "cs231n/data.bin", "../softmax.ipynb", "cs231n/../../x.py",
                "/etc/x.py", "softmax_extra.ipynb", "cs231n\\..\\x.py"):
        assert not _wanted_in_out(rel), rel


# ---- slots ---------------------------------------------------------------------------------
def test_each_holder_gets_its_own_slot_until_it_lets_go():
    with jail_slot() as a:
        with jail_slot() as b:
            assert a != b
            code = ("from instructor.sandbox.slots import jail_slot\n"
                    "with jail_slot() as s: print(s)")
            other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   cwd=REPO, check=True).stdout.strip()
            assert int(other) not in (a, b)
        with jail_slot() as c:
            assert c == b


# ---- the policy ----------------------------------------------------------------------------
def test_no_working_sandbox_stops_with_what_to_do(monkeypatch):
    from instructor.sandbox import box
    monkeypatch.setattr(box, "probe", lambda tier: (False, f"{tier} is missing"))
    for requested in ("auto", "namespaces", "bwrap"):
        with pytest.raises(policy.SandboxError) as info:
            policy.choose_sandbox(requested)
        text = str(info.value)
        assert "namespaces is missing" in text and "apt-get install bubblewrap" in text
        assert "--sandbox none" in text and "nothing was graded" in text
    assert policy.choose_sandbox("none") == "none"


def test_the_grader_refuses_to_grade_without_the_tier_asked_for(tmp_path, synthetic_cifar):
    subs = tmp_path / "subs"
    subs.mkdir()
    with zipfile.ZipFile(subs / "a.zip", "w") as z:
        z.writestr("softmax.ipynb", "{}")
    # A PATH without bwrap: the namespaces tier cannot run.
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar), PATH=os.path.dirname(sys.executable))
    proc = subprocess.run([sys.executable, "-m", "instructor", "autograde", str(subs),
                           "--out", str(tmp_path / "out"), "--sandbox", "namespaces"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no sandbox tier can run here" in proc.stderr and "--sandbox none" in proc.stderr
    assert "bubblewrap" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_the_help_explains_the_sandbox_choice():
    proc = subprocess.run([sys.executable, "-m", "instructor", "autograde", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    text = " ".join(proc.stdout.split())
    assert "WITHOUT isolation" in text and "stops with what each needs" in text
    for tier in ("namespaces", "uid", "none"):
        assert tier in text
    for option in ("--max-processes", "--max-disk", "--max-output-total", "--grader-memory"):
        assert option in text


# ---- the grader's own memory -------------------------------------------------------------
def test_the_workers_address_space_is_limited_and_the_kernel_sets_its_own():
    # The worker's limit holds for the worker; a kernel it starts (the launcher's
    # apply_kernel_limits) gets the kernel's limit, higher or lower.
    code = ("import resource, subprocess, sys\n"
            "from instructor.sandbox.limits import limit_own_memory\n"
            "limit_own_memory(1 << 30)\n"
            "try:\n    b = bytearray(2 << 30)\n    print('allocated')\n"
            "except MemoryError:\n    print('MemoryError')\n"
            "kernel = ('from instructor.sandbox.limits import apply_kernel_limits; '\n"
            "          'import resource; apply_kernel_limits(3 << 30); '\n"
            "          'print(resource.getrlimit(resource.RLIMIT_AS)[0])')\n"
            "print(subprocess.run([sys.executable, '-c', kernel], capture_output=True, text=True,"
            " check=True).stdout.strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True).stdout.split()
    assert out == ["MemoryError", str(3 << 30)]
