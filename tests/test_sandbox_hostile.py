"""Hostile hand-ins against the jail, graded in one real batch (--jobs 2).

Each hostile hand-in is the untouched starter package with one attack added to
cs231n/classifiers/softmax.py, run when the notebook's setup cell imports it,
and the solved notebook; it reports what it managed to do on stdout, which
lands in its graded notebook. The honest hand-in (the solution) is graded in
the same batch. Every hostile hand-in must score no more than the untouched
starter, the honest one full marks, and the batch must finish with a row for
each. The attacks:

- snoop: reads the repository's solution files, OUT, the other hand-ins, the
  submissions and /root; with the solution it would replace its own functions
  (and score); it also tries to write a forged grades.csv into OUT;
- forkbomb: forks until refused; the children wait for ever;
- diskfill: fills its folder, /tmp and /dev/shm (files of at most 30 MB);
- flood: prints, updates a display and raises errors of megabytes in every
  cell that calls its loss;
- pipe: leaves named pipes (one named like a notebook, one like a module) and
  a Unix socket where its files are;
- linger: starts a detached, double-forked sleeper with a unique argv;
- network: connects to a TCP server this test runs on the loopback.
"""
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import pytest

from helpers import (REPO, TESTS, handin, package, read_grades, run_autograde, scores,
                     student_notebook)
from instructor.boundary.jail import bwrap_available, python_paths

PROBE = bwrap_available()
pytestmark = [pytest.mark.slow, pytest.mark.jail,
              pytest.mark.skipif(not PROBE, reason=f"bubblewrap cannot run here: {PROBE.reason}")]

SM = "cs231n/classifiers/softmax.py"
MAX_DISK = 64 << 20
MAX_OUTPUT, MAX_TOTAL = 1 << 20, 2 << 20
LIMITS = ["--jobs", "2", "--cell-timeout", "60", "--timeout", "900", "--max-disk", "64M",
          "--max-output", "1M", "--max-output-total", "2M"]
TOKEN = secrets.token_hex(8)          # in the sleeper's argv, to find it on the host

SNOOP = '''
import os as _os
def _try(label, path):
    try:
        if _os.path.isdir(path):
            print("SNOOP", label, "listed", ",".join(sorted(_os.listdir(path))))
        else:
            with open(path, "rb") as f:
                print("SNOOP", label, "read", len(f.read()))
        return True
    except OSError as e:
        print("SNOOP", label, "denied", type(e).__name__)
        return False
if _try("solution", {solution!r}):
    _sol = {{}}
    exec(open({solution!r}).read(), _sol)
    softmax_loss_naive = _sol["softmax_loss_naive"]
    softmax_loss_vectorized = _sol["softmax_loss_vectorized"]
_try("instructor", {instructor!r})
_try("out", {out!r})
_try("grades", {grades!r})
_try("handins", {handins!r})
_try("submissions", {subs!r})
_try("honest-zip", {honest!r})
_try("root", "/root")
_try("home", {home!r})
try:
    with open({grades!r}, "w") as f:
        f.write("student_id,total\\nsnoop,17\\n")
    print("SNOOP forged yes")
except OSError as e:
    print("SNOOP forged no", type(e).__name__)
'''

FORKBOMB = '''
import os as _os
_r, _w = _os.pipe()
_children, _error = 0, None
while _children < 1000:
    try:
        _pid = _os.fork()
    except OSError as e:
        _error = e.strerror
        break
    if _pid == 0:
        _os.read(_r, 1)
        _os._exit(0)
    _children += 1
print("FORKBOMB", _children, _error)
'''

DISKFILL = '''
import os as _os
for _place in (".", "/tmp", "/dev/shm"):
    _written, _error = 0, None
    for _i in range(100):
        try:
            with open(_os.path.join(_place, f"fill-{_i}.bin"), "wb") as f:
                for _ in range(30 * 16):
                    f.write(b"x" * 65536)
                    _written += 65536
        except OSError as e:
            _error = e.strerror
            break
    print("DISKFILL", _place, _written, _error)
'''

FLOOD = '''
def _flood():
    from IPython.display import display, clear_output
    import sys
    print("K" * (800 << 10))             # kept: within the cell's limit
    sys.stdout.flush()                   # a message of its own
    print("F" * (2 << 20))
    handle = display("small", display_id=True)
    for _ in range(4):
        handle.update("U" * (1 << 20))
    for _ in range(5):
        clear_output()
        print("C" * (1 << 20))
    raise ValueError("E" * (3 << 20))
def softmax_loss_naive(W, X, y, reg):
    _flood()
def softmax_loss_vectorized(W, X, y, reg):
    _flood()
'''

PIPE = '''
import os as _os, socket as _socket
_here = "cs231n/classifiers"    # relative: a socket's path must be short
_os.mkfifo(_os.path.join(_here, "evil.py"))
_os.mkfifo("softmax_extra.ipynb")
_s = _socket.socket(_socket.AF_UNIX)
_s.bind(_os.path.join(_here, "sock.py"))
print("PIPE made")
'''

LINGER = '''
import os as _os, subprocess as _sp, sys as _sys
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _sp.Popen([_sys.executable, "-c", "import time; time.sleep(3600)", "LINGER-{token}"],
                  start_new_session=True, stdin=_sp.DEVNULL, stdout=_sp.DEVNULL,
                  stderr=_sp.DEVNULL)
    _os._exit(0)
_os.wait()
print("LINGER started")
'''

NETWORK = '''
import socket as _socket
try:
    _c = _socket.create_connection(("127.0.0.1", {port}), timeout=5)
    _c.sendall(b"HELLO from the hand-in")
    _c.close()
    print("NETWORK connected")
except OSError as e:
    print("NETWORK failed", type(e).__name__)
'''


def starter_with(dist, attack):
    py = package(dist, solved=False)
    py[SM] += "\n" + attack
    return py


class Listener:
    """A TCP server on the loopback that records every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def host_pids(what, token, uids=None):
    """Pids on the host whose /proc/PID/<what> (cmdline, environ) holds token, and
    whose owner is in uids if given."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if uids is not None and os.stat(f"/proc/{name}").st_uid not in uids:
                    continue
                with open(f"/proc/{name}/{what}", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def lingering(token):
    """Pids on the host whose command line holds token."""
    return host_pids("cmdline", token)


def jail_processes(marker):
    """Pids on the host that run as one of the grader's jail uids with marker (this
    test's data set folder) in their environment: the kernels of this batch."""
    return host_pids("environ", marker, uids=range(61000, 61100))


def leading_to_allowed(folder):
    """The entries of folder a jail shows: only the next step towards an allowed path
    (the Python installation may live under /root, for example)."""
    folder = os.path.realpath(folder)
    steps = set()
    for path in python_paths():
        if path.startswith(folder + os.sep):
            steps.add(path[len(folder) + 1:].split(os.sep)[0])
    return steps


@pytest.fixture(scope="module")
def batch(tmp_path_factory, synthetic_cifar, dist):
    subs = tmp_path_factory.mktemp("sandbox-hostile")
    out = tmp_path_factory.mktemp("sandbox-grading") / "out"
    listener = Listener()
    try:
        snoop = SNOOP.format(
            solution=str(REPO / SM), instructor=str(REPO / "instructor"), out=str(out),
            grades=str(out / "grades.csv"), handins=str(out / ".work" / "handins"),
            subs=str(subs), honest=str(subs / "honest.zip"), home=os.path.expanduser("~"))
        attacks = {"snoop": snoop, "forkbomb": FORKBOMB, "diskfill": DISKFILL, "flood": FLOOD,
                   "pipe": PIPE, "linger": LINGER.format(token=TOKEN),
                   "network": NETWORK.format(port=listener.port)}
        notebook = student_notebook(dist)
        for sid, attack in attacks.items():
            handin(subs / f"{sid}.zip", dist, notebook=notebook, py=starter_with(dist, attack))
        handin(subs / "honest.zip", dist)
        handin(subs / "starter.zip", dist, solved=False)
        start = time.monotonic()
        proc = run_autograde(subs, out, *LIMITS, synthetic=synthetic_cifar)
        seconds = time.monotonic() - start
        assert proc.returncode == 0, proc.stdout + proc.stderr
        connections = listener.connections
    finally:
        listener.close()
    print(f"sandbox batch of {len(attacks) + 2} hand-ins graded in {seconds:.0f} s")
    return {"out": out, "proc": proc, "attacks": attacks, "connections": connections,
            "data": str(synthetic_cifar)}


def outputs(out, sid):
    """All text the hand-in's graded notebook shows."""
    nb = json.loads((out / "autograded" / sid / "softmax" / "softmax.ipynb").read_text())
    text = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            text.append("".join(o.get("text", "")))
            text.append(str(o.get("evalue", "")))
    return "\n".join(text)


def test_every_hostile_handin_scores_no_more_than_the_starter(batch):
    rows = read_grades(batch["out"])
    starter = scores(rows["starter"])
    assert sorted(rows) == sorted([*batch["attacks"], "honest", "starter"])
    for sid in batch["attacks"]:
        assert all(scores(rows[sid])[t] <= starter[t] for t in TESTS), (sid, rows[sid])
        assert (batch["out"] / "feedback" / sid / "softmax.html").is_file()


def test_the_honest_handin_graded_alongside_gets_full_marks(batch):
    row = read_grades(batch["out"])["honest"]
    assert scores(row) == {t: float(p) for t, p in TESTS.items()}, row["notes"]
    assert row["status"] == "graded", row["notes"]


def test_files_outside_the_handin_are_out_of_reach(batch):
    text = outputs(batch["out"], "snoop")
    for label in ("solution", "instructor", "grades", "submissions", "honest-zip"):
        assert f"SNOOP {label} denied" in text, label
    # OUT and the hand-ins' folder lie on the path to its own folder, /root may lie on
    # the path to the Python installation: the jail shows such folders holding only
    # the next step of that path.
    seen = dict(line.split(" ", 2)[1:] for line in text.splitlines()
                if line.startswith("SNOOP ") and line.split(" ")[1] in
                ("out", "handins", "root", "home"))
    for label, folder in (("root", "/root"), ("home", os.path.expanduser("~"))):
        assert seen[label] == "denied FileNotFoundError" or (
            seen[label].startswith("listed ") and
            set(seen[label][7:].split(",")) <= leading_to_allowed(folder)), seen
    assert seen["out"] in ("denied FileNotFoundError", "listed .work"), seen
    listed = seen["handins"].split(" ", 1)[1].split(",")
    assert seen["handins"].startswith("listed ") and len(listed) == 1, seen
    assert listed[0].startswith("snoop-"), seen
    assert "SNOOP forged no" in text
    assert "snoop,17" not in (batch["out"] / "grades.csv").read_text()


def test_a_fork_bomb_stops_at_the_process_limit(batch):
    text = outputs(batch["out"], "forkbomb")
    line = next(l for l in text.splitlines() if l.startswith("FORKBOMB"))
    _, children, error = line.split(" ", 2)
    # 64 processes and threads of the jail's uid, the kernel's own threads included.
    assert 0 < int(children) < 64 and error == "Resource temporarily unavailable", line


def test_disk_and_tmpfs_fills_stop_at_the_total(batch):
    text = outputs(batch["out"], "diskfill")
    lines = [l.split(" ", 3) for l in text.splitlines() if l.startswith("DISKFILL")]
    assert [l[1] for l in lines] == [".", "/tmp", "/dev/shm"]
    total = sum(int(l[2]) for l in lines)
    assert total <= MAX_DISK, lines
    assert total >= MAX_DISK // 2, lines          # the limit, not something else, stopped it
    assert all(l[3] == "No space left on device" for l in lines), lines


def test_files_written_while_graded_stay_out_of_out(batch):
    out = batch["out"]
    for sid in batch["attacks"]:
        folder = out / "autograded" / sid / "softmax"
        names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        for p in folder.rglob("*"):
            assert p.is_dir() or (p.is_file() and not p.is_symlink()), p
        files = [n for n in names if (folder / n).is_file()]
        assert all(n == "softmax.ipynb" or (n.startswith("cs231n/") and n.endswith(".py"))
                   for n in files), (sid, files)
        assert not any("fill-" in n or "evil" in n or "sock" in n for n in names), (sid, names)
    # The pipe hand-in's softmax.py in OUT is the one it handed in, not its pipe.
    assert "PIPE made" in (out / "autograded" / "pipe" / "softmax" / SM).read_text()
    assert "PIPE made" in outputs(out, "pipe")


def test_output_floods_give_a_bounded_notebook_and_page(batch):
    out = batch["out"]
    nb_size = (out / "autograded" / "flood" / "softmax" / "softmax.ipynb").stat().st_size
    page_size = (out / "feedback" / "flood" / "softmax.html").stat().st_size
    honest_nb = (out / "autograded" / "honest" / "softmax" / "softmax.ipynb").stat().st_size
    honest_page = (out / "feedback" / "honest" / "softmax.html").stat().st_size
    print(f"flood: notebook {nb_size} bytes, page {page_size} bytes "
          f"(honest: {honest_nb}, {honest_page})")
    assert nb_size <= honest_nb + MAX_TOTAL + (256 << 10)
    assert page_size <= honest_page + 2 * MAX_TOTAL
    row = read_grades(out)["flood"]
    assert "output" in row["notes"] and str(MAX_TOTAL) in row["notes"], row["notes"]
    nb = json.loads((out / "autograded" / "flood" / "softmax" / "softmax.ipynb").read_text())
    for c in nb["cells"]:
        size = len(json.dumps(c.get("outputs", [])))
        assert size <= MAX_OUTPUT + (64 << 10), (c["metadata"], size)


def test_processes_a_handin_started_are_gone_after_grading(batch):
    assert "LINGER started" in outputs(batch["out"], "linger")
    assert lingering(f"LINGER-{TOKEN}") == []
    assert jail_processes(batch["data"]) == []


def test_the_network_is_out_of_reach(batch):
    text = outputs(batch["out"], "network")
    assert "NETWORK failed" in text and "NETWORK connected" not in text
    assert batch["connections"] == 0


def test_the_batch_says_it_grades_in_the_jail(batch):
    assert "sandbox: namespaces" in batch["proc"].stdout
    assert "WITHOUT a sandbox" not in batch["proc"].stdout + batch["proc"].stderr
