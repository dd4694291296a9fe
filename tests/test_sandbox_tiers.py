"""The isolation tiers (instructor/sandbox/box.py), each tried for real.

- namespaces as root, namespaces as a normal user (created here with useradd), and
  uid (root without namespaces): a box runs an attack script that tries to read a
  denied folder, reach the network, fork without end, write outside its folder and
  leave a process behind; every attempt must fail and nothing may be left;
- a Docker-like container is simulated (tests/container_sim.py: CAP_SYS_ADMIN
  dropped, a seccomp filter refusing namespaces and mounts): auto picks uid there,
  and a real batch (honest, starter, a thief of the solution) grades right in it.
"""
import json
import os
import re
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import container_sim
from tier_attack import lingering, run_attack
from helpers import REPO, TESTS, handin, package, read_grades, scores, student_notebook
from instructor.sandbox import seccomp
from instructor.sandbox.box import Box, choose_tier, probe
from instructor.sandbox.limits import processes_of

SIM = container_sim.usable()
SM = "cs231n/classifiers/softmax.py"
TEST_USER = "softmax-tier-test"


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.settimeout(0.2)
    yield sock
    sock.close()


def accepted(sock):
    try:
        sock.accept()[0].close()
        return True
    except OSError:
        return False


def _assert_held(report, run, token, uid, outside, listener):
    assert report.get("linger") == "started", run.stdout + run.stderr
    for label in ("read", "list", "net", "write", "forkbomb"):
        assert report.get(label) == "no", (label, run.stdout, run.stderr)
    assert not accepted(listener)
    assert not (outside / "evil.txt").exists()
    assert lingering(token) == []
    if uid is not None:   # the fork bomb's sleepers too (only ours run `sleep 600`)
        assert [pid for pid in processes_of(uid) if cmdline(pid)[:2] == [b"sleep", b"600"]] == []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


ROOT_TIERS = ["namespaces", "uid"]


@pytest.mark.jail
@pytest.mark.parametrize("tier", ROOT_TIERS)
def test_a_box_of_each_tier_holds_as_root(tier, tmp_path, listener):
    if os.geteuid() != 0:
        pytest.skip("this test runs the tiers as root; the normal user's test is below")
    ok, why = probe(tier)
    if not ok:
        pytest.skip(f"the {tier} tier cannot run here: {why}")
    _assert_held(*run_attack(tier, tmp_path, listener), listener)


@pytest.mark.jail
def test_the_uid_tier_holds_inside_the_simulated_container(tmp_path, listener):
    """The same attack, with the box built in a Docker-like container."""
    if SIM:
        pytest.skip(f"cannot simulate a container here: {SIM}")
    script = tmp_path / "in_container.py"
    script.write_text(textwrap.dedent(f'''
        import json, pathlib, sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / "tests")!r}]
        import container_sim
        container_sim.enter()
        from instructor.sandbox.box import choose_tier
        from tier_attack import run_attack
        tier = choose_tier("auto")
        class Port:
            def getsockname(self): return ("127.0.0.1", {listener.getsockname()[1]})
        report, run, token, uid, outside = run_attack(tier, pathlib.Path(sys.argv[1]), Port())
        print(json.dumps({{"tier": tier, "report": report, "token": token, "uid": uid,
                          "out": run.stdout + run.stderr}}))
    '''))
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.splitlines()[-1])
    assert got["tier"] == "uid", got
    _assert_held(got["report"], subprocess.CompletedProcess([], 0, got["out"], ""),
                 got["token"], got["uid"], tmp_path / "outside", listener)


def _normal_user():
    """The uid of a normal user made for these tests (None and why if impossible)."""
    if os.geteuid() != 0:
        return None, "creating a user needs root (as a normal user, the tier is tested by make autograde)"
    if not shutil.which("useradd"):
        return None, "useradd is not installed (Debian: apt-get install passwd)"
    try:
        return pwd.getpwnam(TEST_USER).pw_uid, ""
    except KeyError:
        pass
    run = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                          TEST_USER], capture_output=True, text=True)
    if run.returncode != 0:
        return None, f"useradd failed: {run.stderr.strip()}"
    return pwd.getpwnam(TEST_USER).pw_uid, ""


@pytest.mark.jail
def test_the_namespaces_tier_holds_for_a_normal_user(tmp_path, listener):
    """A normal user (no root, no capabilities) builds the box with user namespaces.
    Its Python is the system's (/usr/bin/python3): the attack needs nothing else."""
    uid, why = _normal_user()
    if uid is None:
        pytest.skip(why)
    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK):
        pytest.skip("no system python3 for the normal user")
    # The user must be able to read the package: a copy of it in a folder of the test.
    code = tmp_path / "code"
    shutil.copytree(REPO / "instructor", code / "instructor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "tests" / "tier_attack.py", code / "tier_attack.py")
    for p in [tmp_path, *tmp_path.parents]:
        if str(p) != "/":
            os.chmod(p, os.stat(p).st_mode | 0o001)   # traversable for the test user
    os.chmod(tmp_path, 0o777)
    for root, dirs, files in os.walk(code):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(f'''
        import json, pathlib, sys
        sys.path.insert(0, {str(code)!r})
        from instructor.sandbox.box import choose_tier
        from tier_attack import run_attack
        import socket
        tier = choose_tier("auto")
        class L:
            def getsockname(self): return ("127.0.0.1", {listener.getsockname()[1]})
        tmp = pathlib.Path(sys.argv[1])
        report, run, token, uid, outside = run_attack(tier, tmp, L(), python={python!r})
        print(json.dumps({{"tier": tier, "report": report, "token": token, "uid": uid,
                          "out": run.stdout + run.stderr}}))
    '''))
    sub = tmp_path / "as-user"
    sub.mkdir(mode=0o777)
    os.chmod(sub, 0o777)
    run = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                          python, str(runner), str(sub)], capture_output=True, text=True,
                         timeout=180, cwd="/",
                         env={"PATH": "/usr/bin:/bin", "HOME": str(sub), "LANG": "C.UTF-8"})
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.splitlines()[-1])
    assert got["tier"] == "namespaces", got
    assert got["uid"] is None
    _assert_held(got["report"], subprocess.CompletedProcess([], 0, got["out"], ""),
                 got["token"], None, sub / "outside", listener)


def test_the_network_filter_refuses_inet_but_not_unix_sockets():
    if not seccomp.supported():
        pytest.skip("no seccomp filter is written for this architecture")
    code = ("import socket, sys; sys.path.insert(0, sys.argv[1]);"
            "from instructor.sandbox import seccomp; seccomp.install(seccomp.refuse_sockets());"
            "socket.socketpair();"
            "socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM);"
            "families = [socket.AF_INET, socket.AF_INET6, socket.AF_PACKET]\n"
            "for fam in families:\n"
            "    try: socket.socket(fam, socket.SOCK_RAW if fam == socket.AF_PACKET else socket.SOCK_STREAM); print('open', fam)\n"
            "    except OSError as e: print('refused', e.errno)\n")
    run = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["refused", "13"] * 3


def test_auto_refuses_with_what_each_tier_needs(monkeypatch):
    from instructor.sandbox import box
    monkeypatch.setattr(box, "probe", lambda tier: (False, f"{tier} is broken"))
    with pytest.raises(box.SandboxError) as e:
        choose_tier("auto")
    text = str(e.value)
    for tier in ("namespaces", "uid"):
        assert f"{tier}: {tier} is broken" in text and box.HOW_TO[tier] in text
    assert "--sandbox none" in text
    assert choose_tier("none") == "none"
    with pytest.raises(box.SandboxError):
        choose_tier("chroot")


@pytest.mark.slow
@pytest.mark.jail
def test_a_batch_graded_in_the_simulated_container(tmp_path_factory, synthetic_cifar, dist):
    """make autograde with default flags inside a Docker-like container: the uid tier;
    honest full marks; the starter, a thief of the solution (that also writes outside
    its folder), a fork bomb, a lingering process, the network and named pipes no
    better than the starter, with nothing written outside OUT and nothing left running.
    (No disk filler: this tier bounds each file, not the total; see the README.)"""
    from test_sandbox_hostile import FORKBOMB, LINGER, NETWORK, PIPE, Listener
    if SIM:
        pytest.skip(f"cannot simulate a container here: {SIM}")
    subs = tmp_path_factory.mktemp("tier-subs")
    out = tmp_path_factory.mktemp("tier-out") / "out"
    token = secrets.token_hex(8)
    outside = [str(out / "grades.csv"), f"/tmp/outside-{token}", str(REPO / f"outside-{token}")]
    thief = textwrap.dedent(f'''
        try:
            _sol = {{}}
            exec(open({str(REPO / SM)!r}).read(), _sol)
            softmax_loss_naive = _sol["softmax_loss_naive"]
            softmax_loss_vectorized = _sol["softmax_loss_vectorized"]
            print("THIEF got the solution")
        except OSError as e:
            print("THIEF denied", type(e).__name__)
        for _p in ({str(out)!r}, {str(subs)!r}):
            try:
                print("THIEF listed", _p, len(__import__("os").listdir(_p)))
            except OSError as e:
                print("THIEF denied", type(e).__name__)
        for _p in {outside!r}:
            try:
                open(_p, "a").write("thief,17\\n")
                print("THIEF wrote", _p)
            except OSError as e:
                print("THIEF could not write", type(e).__name__)
    ''')
    listener = Listener()
    try:
        notebook = student_notebook(dist)
        starter_py = package(dist, solved=False)
        attacks = {"thief": thief, "forkbomb": FORKBOMB, "linger": LINGER.format(token=token),
                   "network": NETWORK.format(port=listener.port), "pipe": PIPE}
        handin(subs / "honest.zip", dist)
        handin(subs / "starter.zip", dist, solved=False)
        for sid, attack in attacks.items():
            handin(subs / f"{sid}.zip", dist, notebook=notebook,
                   py={**starter_py, SM: starter_py[SM] + "\n" + attack})
        env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar))
        run = subprocess.run([sys.executable, str(REPO / "tests" / "container_sim.py"),
                              sys.executable, "-m", "instructor", "autograde", str(subs),
                              "--out", str(out), "--jobs", "2", "--cell-timeout", "60"],
                             cwd=REPO, capture_output=True, text=True, timeout=1500, env=env)
        connections = listener.connections
    finally:
        listener.close()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "sandbox: uid" in run.stdout
    rows = read_grades(out)
    assert scores(rows["honest"]) == {t: float(p) for t, p in TESTS.items()}, \
        (rows["honest"], (out / "logs" / "honest.log").read_text()[-4000:])
    starter = scores(rows["starter"])
    for sid in attacks:
        assert all(scores(rows[sid])[t] <= starter[t] for t in TESTS), rows[sid]
    for row in rows.values():
        assert row["notes"].startswith("sandbox: uid"), row["notes"]

    def shown(sid):
        return (out / "autograded" / sid / "softmax" / "softmax.ipynb").read_text()
    nb = shown("thief")
    assert "THIEF denied" in nb and "THIEF got" not in nb and "THIEF listed" not in nb
    assert "THIEF wrote" not in nb.replace(f"THIEF wrote /tmp/outside-{token}", "")
    assert "thief,17" not in (out / "grades.csv").read_text()
    assert not os.path.exists(f"/tmp/outside-{token}")     # removed with its box
    assert not (REPO / f"outside-{token}").exists()
    bomb = re.search(r"FORKBOMB (\d+) ([A-Za-z ]+)", shown("forkbomb"))
    assert bomb and 0 < int(bomb.group(1)) < 64, bomb
    assert bomb.group(2) == "Resource temporarily unavailable", bomb.group(0)
    assert "NETWORK failed" in shown("network") and connections == 0
    assert "LINGER started" in shown("linger") and lingering(f"LINGER-{token}") == []
    assert "PIPE made" in shown("pipe")
    # Nothing of its boxes runs any more (other jails on this machine may use slot uids).
    assert lingering_in_boxes() == []


def lingering_in_boxes():
    """Running processes started in a uid-tier box (their argv names its folder)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"/box-" in f.read():
                    found.append(int(pid))
        except (OSError, ValueError):
            pass
    return found


@pytest.mark.slow
@pytest.mark.jail
def test_a_batch_graded_by_a_normal_user(synthetic_cifar, dist):
    """A normal user (made here) grades with default flags in a checkout of its own:
    the namespaces tier; honest full marks, a thief of the solution (in the checkout and
    in the user's home) no better than the starter, nothing left running."""
    uid, why = _normal_user()
    if uid is None:
        pytest.skip(why)
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed (Debian: apt-get install util-linux)")
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    reach = subprocess.run([*as_user, sys.executable, "-c", "import nbgrader, numpy, ipykernel"],
                           cwd="/", capture_output=True, text=True)
    if reach.returncode != 0:
        pytest.skip(f"this Python ({sys.executable}) is not usable by other users: "
                    f"{reach.stderr.strip().splitlines()[-1:]}")
    base = Path(tempfile.mkdtemp(prefix="softmax-user-"))
    os.chmod(base, 0o755)
    try:
        checkout, home, subs, data = (base / n for n in ("checkout", "home", "subs", "data"))
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.split("\n")
        for rel in filter(None, listed):
            if (REPO / rel).is_file() and not rel.startswith((".venv", "build/", "dist/")):
                (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, checkout / rel)
        shutil.copytree(synthetic_cifar, data)
        (home / "solutions").mkdir(parents=True)
        shutil.copy(REPO / SM, home / "solutions" / "softmax.py")
        subs.mkdir()
        thief = textwrap.dedent(f'''
            for _path in ({str(checkout / SM)!r}, {str(home / "solutions" / "softmax.py")!r}):
                try:
                    _sol = {{}}
                    exec(open(_path).read(), _sol)
                    softmax_loss_naive = _sol["softmax_loss_naive"]
                    softmax_loss_vectorized = _sol["softmax_loss_vectorized"]
                    print("THIEF got", _path)
                except OSError as e:
                    print("THIEF denied", type(e).__name__)
        ''')
        starter_py = package(dist, solved=False)
        handin(subs / "honest.zip", dist)
        handin(subs / "starter.zip", dist, solved=False)
        handin(subs / "thief.zip", dist, notebook=student_notebook(dist),
               py={**starter_py, SM: starter_py[SM] + "\n" + thief})
        subprocess.run(["chown", "-R", f"{uid}:{uid}", str(base)], check=True)
        env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": str(home),
               "LANG": "C.UTF-8", "CIFAR10_DIR": str(data)}
        run = subprocess.run([*as_user, sys.executable, "-m", "instructor", "autograde",
                              str(subs), "--out", str(base / "out"), "--jobs", "2",
                              "--cell-timeout", "60"], cwd=checkout, env=env,
                             capture_output=True, text=True, timeout=1500)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "sandbox: namespaces" in run.stdout
        rows = read_grades(base / "out")
        assert scores(rows["honest"]) == {t: float(p) for t, p in TESTS.items()}, rows["honest"]
        starter = scores(rows["starter"])
        assert all(scores(rows["thief"])[t] <= starter[t] for t in TESTS), rows["thief"]
        nb = (base / "out" / "autograded" / "thief" / "softmax" / "softmax.ipynb").read_text()
        assert "THIEF denied" in nb and "THIEF got" not in nb
        assert all(os.stat(p).st_uid == uid for p in (base / "out").rglob("*"))
        time.sleep(0.5)
        assert [p for p in processes_of(uid) if b"ipykernel" in b" ".join(cmdline(p))] == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to look as another user")
def test_sealing_leaves_only_the_way_to_what_is_allowed(tmp_path):
    from instructor.sandbox.box import seal
    top = Path(tempfile.mkdtemp(prefix="softmax-seal-"))
    try:
        os.chmod(top, 0o755)
        deny = top / "checkout"
        for rel, text in {"solution.py": "answer", "sub/allowed/ok.txt": "fine",
                          "sub/hidden.txt": "secret", "other/x.txt": "secret"}.items():
            (deny / rel).parent.mkdir(parents=True, exist_ok=True)
            (deny / rel).write_text(text)
        for p in [deny, *deny.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        allowed = deny / "sub" / "allowed"
        for _ in range(2):       # sealing again (another box) changes nothing
            seal([str(deny)], [str(allowed)])
            probe = ("import os, sys\n"
                     "for p in sys.argv[1:]:\n"
                     "    try:\n"
                     "        print(p, 'read' if os.path.isfile(p) and open(p).read() else sorted(os.listdir(p)))\n"
                     "    except OSError:\n"
                     "        print(p, 'denied')\n")
            paths = [deny / "solution.py", deny / "sub" / "hidden.txt", deny / "other" / "x.txt",
                     deny / "other", deny, deny / "sub", allowed / "ok.txt"]
            run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "/usr/bin/python3", "-c", probe, *map(str, paths)],
                                 capture_output=True, text=True, check=True)
            seen = dict(line.split(" ", 1) for line in run.stdout.splitlines())
            assert seen[str(deny / "solution.py")] == "denied"
            assert seen[str(deny / "sub" / "hidden.txt")] == "denied"
            assert seen[str(deny / "other" / "x.txt")] == "denied"
            assert seen[str(deny / "other")] == "denied"
            assert seen[str(allowed / "ok.txt")] == "read"
            # The way there: names only.
            assert seen[str(deny)] == str(["other", "solution.py", "sub"])
        assert (deny / "solution.py").read_text() == "answer"     # the owner still reads it
    finally:
        shutil.rmtree(top, ignore_errors=True)
