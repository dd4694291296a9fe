"""The allow-list jail, each property tried for real with bubblewrap.

Layout of every test: BASE/instructor/secret.txt (the grader's files), BASE/data
(the data set) and BASE/handin (the jail's work folder, with a cs231n package).
The jailed programs report what they could do as JSON on stdout; the verdicts
never depend on timing."""
import itertools
import json
import os
import shutil
import socket
import subprocess
import textwrap

import numpy as np
import pytest

from instructor.boundary import client as client_mod
from instructor.boundary.client import StudentError, WorkerClient
from instructor.boundary.jail import Jail, JailError, bwrap_available
from instructor.grade.job import Limits
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = bwrap_available()
pytestmark = [pytest.mark.jail,
              pytest.mark.skipif(not PROBE, reason=f"no jail here: {PROBE.reason}")]
UID_BASE = 61100          # away from the grader's default slots
_slots = itertools.count()
SOFTMAX = "cs231n.classifiers.softmax"   # the module of the functions called in the jail


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "instructor").mkdir()
    (tmp_path / "instructor" / "secret.txt").write_text("hidden tests")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "batch").write_text("pixels")
    handin = tmp_path / "handin"
    handin.mkdir()
    shutil.copytree(os.path.join(ROOT, "cs231n"), handin / "cs231n",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (handin / "notes.txt").write_text("student file")
    os.mkfifo(handin / "pipe")          # special files are not copied in
    return tmp_path


def make_jail(layout, **kw):
    kw.setdefault("data_dir", layout / "data")
    kw.setdefault("deny", [layout / "instructor", ROOT])
    return Jail(layout / "handin", slot=next(_slots), uid_base=UID_BASE, **kw)


def run_jailed(jail, code, timeout=120, **popen):
    """Run python code in the jail; its last stdout line is JSON."""
    proc = subprocess.run(jail.command() + [jail.python, "-I", "-c", textwrap.dedent(code)],
                          env=jail.env(), preexec_fn=jail.preexec, close_fds=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          **popen)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def processes_of(uid):
    """Pids of uid on the host; polled (the kernel reaps a dead namespace at once,
    this only absorbs scheduling)."""
    import time
    deadline = time.monotonic() + 10
    while True:
        pids = [p for p in os.listdir("/proc") if p.isdigit()
                and os.path.exists(f"/proc/{p}") and _uid(p) == uid]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def _uid(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def test_probe_says_yes_here():
    assert PROBE.ok and PROBE.reason == ""


def test_only_the_allow_list_is_visible(layout):
    hidden = [str(layout / "instructor" / "secret.txt"), str(layout / "instructor"),
              os.path.join(ROOT, "README.md"), ROOT, "/etc/passwd", "/etc/hostname",
              "/root/.bashrc", "/home", "/var", "/opt", "/srv", "/run", "/boot"]
    with make_jail(layout) as jail:
        # Every entry of / and of /root that leads to nothing allowed must be absent.
        shown = jail.allowed() + [str(layout / "handin"), str(layout / "data"), "/etc", "/tmp",
                                  "/dev", "/proc", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                  "/libx32"]
        for top in ("/", "/root"):
            for name in os.listdir(top) if os.access(top, os.R_OK) else []:
                path = os.path.join(top, name)
                if not any(s == path or s.startswith(path + "/") for s in shown):
                    hidden.append(path)
        # A folder on the way to an allowed one exists in the jail as an empty entry
        # (the project's own .venv makes the project folder one): only its files must
        # stay absent.
        hidden = [p for p in hidden if os.path.exists(p)
                  and not any(s.startswith(p.rstrip("/") + "/") for s in jail.allowed())]
        assert len(hidden) >= 5
        seen = run_jailed(jail, f"""
            import os, json
            out = {{}}
            for p in {hidden!r}:
                try:
                    os.stat(p)
                    out[p] = "visible"
                except OSError as e:
                    out[p] = e.strerror
            out["data"] = open({str(layout / "data" / "batch")!r}).read()
            out["mine"] = open("notes.txt").read()
            out["listing"] = sorted(os.listdir("."))
            out["uid"] = os.getuid()
            print(json.dumps(out))""")
    assert {p: seen[p] for p in hidden if seen[p] != "No such file or directory"} == {}
    assert seen["data"] == "pixels" and seen["mine"] == "student file"
    assert seen["listing"] == ["cs231n", "notes.txt"]          # the fifo stayed out
    assert seen["uid"] == jail.uid != 0


def test_writes_land_only_in_the_jails_own_folder(layout):
    with make_jail(layout) as jail:
        seen = run_jailed(jail, f"""
            import os, json
            out = {{}}
            for p in [{str(layout / "data" / "new")!r}, {str(layout / "data" / "batch")!r},
                      "/usr/new", "/new", "/etc/new", {os.path.join(ROOT, "new")!r},
                      {str(layout / "instructor" / "new")!r}]:
                try:
                    open(p, "a").close()
                    out[p] = "written"
                except OSError as e:
                    out[p] = e.strerror
            open("made-inside.txt", "w").write("ok")
            open("/tmp/scratch", "w").write("ok")
            print(json.dumps(out))""")
        assert not any(v == "written" for v in seen.values()), seen
        out = layout / "out"
        assert jail.collect(out, ["made-inside.txt", "pipe", "../instructor/secret.txt",
                                  "missing"]) == ["made-inside.txt"]
        assert (out / "made-inside.txt").read_text() == "ok"
    assert not (layout / "handin" / "made-inside.txt").exists()
    assert (layout / "data" / "batch").read_text() == "pixels"
    assert not os.path.exists(os.path.join(ROOT, "new"))


def test_no_network_not_even_the_hosts_loopback(layout):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # reachable here
        server.accept()[0].close()
        with make_jail(layout) as jail:
            seen = run_jailed(jail, f"""
                import socket, json
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=5)
                    r = "connected"
                except OSError as e:
                    r = type(e).__name__
                names = [n for _, n in socket.if_nameindex()]
                print(json.dumps({{"connect": r, "ifaces": names}}))""")
        assert seen["connect"] in ("ConnectionRefusedError", "OSError"), seen
        assert seen["ifaces"] == ["lo"]
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_a_fork_bomb_stops_at_the_process_limit_and_nothing_lingers(layout):
    with make_jail(layout, limits=Limits(processes=64)) as jail:
        seen = run_jailed(jail, """
            import os, json
            r, w = os.pipe()
            children, error = 0, None
            while children < 1000:
                try:
                    pid = os.fork()
                except OSError as e:
                    error = e.strerror
                    break
                if pid == 0:
                    os.read(r, 1)          # wait for ever (until the jail ends)
                    os._exit(0)
                children += 1
            print(json.dumps({"children": children, "error": error}))""")
        assert seen["error"] == "Resource temporarily unavailable"
        # 64 processes of the jail's uid: the forking one and 63 children.
        assert seen["children"] == 63
        assert processes_of(jail.uid) == []


def test_processes_that_detach_themselves_die_with_the_jail(layout):
    with make_jail(layout) as jail:
        seen = run_jailed(jail, """
            import os, json, subprocess, sys
            code = "import os,time; os.setsid(); os.fork() or time.sleep(3600); time.sleep(3600)"
            p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(json.dumps({"started": p.pid}))""")
        assert seen["started"] > 0
        assert processes_of(jail.uid) == []


def test_total_disk_of_folder_tmp_and_shm_is_capped(layout):
    limit = 8 << 20
    with make_jail(layout, limits=Limits(disk=limit)) as jail:
        seen = run_jailed(jail, """
            import os, json
            out = {}
            for place in (".", "/tmp", "/dev/shm"):
                written, error = 0, None
                try:
                    with open(os.path.join(place, "fill"), "wb") as f:
                        while written < (64 << 20):
                            f.write(b"x" * 65536)
                            f.flush()
                            written += 65536
                except OSError as e:
                    error = e.strerror
                out[place] = [written, error]
            print(json.dumps(out))""")
    total = sum(w for w, _ in seen.values())
    assert all(e == "No space left on device" for _, e in seen.values()), seen
    # The first place fills what the hand-in left free; the later ones find nothing.
    assert limit - (1 << 20) <= total <= limit, seen
    assert seen["/dev/shm"][0] <= 65536


def test_a_hand_in_larger_than_the_disk_limit_is_refused_clearly(layout):
    (layout / "handin" / "big.bin").write_bytes(b"\0" * (3 << 20))
    with pytest.raises(JailError, match="larger than the disk limit of 2 MB"):
        with make_jail(layout, limits=Limits(disk=2 << 20)):
            pass


def test_only_the_intended_descriptors_reach_the_jail(layout):
    leak = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leak, True)
    keep_r, keep_w = os.pipe()
    try:
        with make_jail(layout) as jail:
            seen = run_jailed(jail, """
                import os, json
                def is_open(fd):
                    try:
                        os.fstat(fd)
                        return True
                    except OSError:
                        return False
                print(json.dumps([fd for fd in range(1024) if is_open(fd)]))""",
                              pass_fds=(keep_r,))
    finally:
        for fd in (leak, keep_r, keep_w):
            os.close(fd)
    assert seen == [0, 1, 2, keep_r]


def test_an_allow_list_that_would_show_a_denied_folder_is_refused(layout):
    with pytest.raises(JailError, match="must stay hidden"):
        with make_jail(layout, read_only=[layout]) as jail:
            jail.command()
    (layout / "handin" / "instructor").mkdir()
    with pytest.raises(JailError, match="must stay hidden"):
        with make_jail(layout, deny=[layout / "handin" / "instructor"]):
            pass


def test_the_jails_state_on_the_host_is_private_and_removed(layout):
    with make_jail(layout) as jail:
        info = os.stat(jail.state_dir)
        assert (info.st_uid, info.st_mode & 0o777) == (0, 0o700)
        state = jail.state_dir
    assert not os.path.exists(state)
    with open("/proc/self/mounts") as f:
        assert state not in f.read()


READ_SECRET = """
def softmax_loss_naive(W, X, y, reg):
    return float(len(open({secret!r}).read())), W
"""


def test_the_worker_answers_from_inside_the_jail_and_leaves_nothing(layout):
    rng = np.random.default_rng(0)
    W, X, y = 0.01 * rng.standard_normal((5, 3)), rng.standard_normal((4, 5)), np.arange(4) % 3
    with make_jail(layout, read_only=[client_mod.WORKER_PATH, client_mod.PROTOCOL_PATH]) as jail:
        with WorkerClient(str(layout / "handin"), launcher=jail.command(), python=jail.python,
                          preexec_fn=jail.preexec, env=jail.env(), timeout=120) as c:
            for reg in (0.0, 0.1):
                loss, dW = c.function(SOFTMAX, "softmax_loss_naive")(W, X, y, reg)
                want = softmax_loss_naive(W, X, y, reg)
                assert loss == want[0] and np.array_equal(dW, want[1])
            pid = c.call("ping", {"op": "ping"}, {})[0]["pid"]
            assert pid == 2         # after bwrap's init: the jail has its own pid namespace
        assert processes_of(jail.uid) == []


def test_student_code_in_the_jailed_worker_cannot_read_the_graders_files(layout):
    secret = str(layout / "instructor" / "secret.txt")
    with open(layout / "handin" / "cs231n" / "classifiers" / "softmax.py", "a") as f:
        f.write(READ_SECRET.format(secret=secret))
    rng = np.random.default_rng(1)
    W, X, y = 0.01 * rng.standard_normal((5, 3)), rng.standard_normal((4, 5)), np.arange(4) % 3
    with make_jail(layout, read_only=[client_mod.WORKER_PATH, client_mod.PROTOCOL_PATH]) as jail:
        with WorkerClient(str(layout / "handin"), launcher=jail.command(), python=jail.python,
                          preexec_fn=jail.preexec, env=jail.env(), timeout=120) as c:
            with pytest.raises(FileNotFoundError) as info:
                c.function(SOFTMAX, "softmax_loss_naive")(W, X, y, 0.1)
    assert isinstance(info.value, StudentError)
    assert secret in str(info.value)


def test_a_unix_socket_in_the_runtime_folder_reaches_the_grader(layout):
    with make_jail(layout) as jail:
        path = os.path.join(jail.runtime_dir, "kernel.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        os.chmod(path, 0o666)   # made by root here; the jail's uid connects
        server.listen(1)
        try:
            seen = run_jailed(jail, f"""
                import socket, json
                s = socket.socket(socket.AF_UNIX)
                s.connect({path!r})
                s.sendall(b"hello from the jail")
                s.close()
                print(json.dumps("sent"))""")
            conn, _ = server.accept()
            assert seen == "sent" and conn.recv(100) == b"hello from the jail"
            conn.close()
        finally:
            server.close()


SPIN = """
def softmax_loss_naive(W, X, y, reg):
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    while True:
        pass
"""


def test_a_jailed_worker_that_hangs_is_killed_with_everything_it_started(layout):
    with open(layout / "handin" / "cs231n" / "classifiers" / "softmax.py", "a") as f:
        f.write(SPIN)
    rng = np.random.default_rng(2)
    W, X, y = 0.01 * rng.standard_normal((5, 3)), rng.standard_normal((4, 5)), np.arange(4) % 3
    with make_jail(layout, read_only=[client_mod.WORKER_PATH, client_mod.PROTOCOL_PATH]) as jail:
        with WorkerClient(str(layout / "handin"), launcher=jail.command(), python=jail.python,
                          preexec_fn=jail.preexec, env=jail.env(), timeout=3) as c:
            with pytest.raises(client_mod.WorkerTimeout, match="softmax_loss_naive"):
                c.function(SOFTMAX, "softmax_loss_naive")(W, X, y, 0.1)
            assert processes_of(jail.uid) == []
            c.timeout = 120
            want = softmax_loss_vectorized(W, X, y, 0.1)
            assert c.function(SOFTMAX, "softmax_loss_vectorized")(W, X, y, 0.1)[0] == want[0]
