"""An attack script run in a box of each tier (tests/test_sandbox_tiers.py); no
pytest here: the normal user's test runs it with the system's python3."""
import os
import secrets
import subprocess
import sys
import textwrap
import time

from instructor.sandbox.box import Box


class SmallLimits:
    processes, disk, memory, max_file_write = 48, 16 << 20, 2 << 30, 4 << 20


ATTACK = textwrap.dedent('''
    import os, socket, subprocess, sys, time
    secret, outside, port, token = sys.argv[1:5]
    def report(label, ok):
        print(label, "YES" if ok else "no", flush=True)
    try:
        open(os.path.join(secret, "solution.py")).read(); report("read", True)
    except OSError:
        report("read", False)
    try:
        os.listdir(secret); report("list", True)
    except OSError:
        report("list", False)
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=3); report("net", True)
    except OSError:
        report("net", False)
    try:
        with open(os.path.join(outside, "evil.txt"), "w") as f:
            f.write("x")
        report("write", True)
    except OSError:
        report("write", False)
    children = []
    try:
        for _ in range(400):
            children.append(subprocess.Popen(["sleep", "600"]))
        report("forkbomb", True)
    except OSError:
        report("forkbomb", False)
    for c in children:
        c.kill()
        c.wait()
    if os.fork() == 0:      # a detached sleeper meant to outlive the box
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "600", token])
        os._exit(0)
    print("linger started", flush=True)
''')


def lingering(token):
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read().split(b"\0"):
                    found.append(int(pid))
        except (OSError, ValueError):
            pass
    return found


def run_attack(tier, tmp_path, listener, python=sys.executable):
    secret = tmp_path / "instructor"
    secret.mkdir()
    (secret / "solution.py").write_text("def softmax(): return 'the answer'\n")
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o777)
    os.chmod(outside, 0o777)            # writable by anyone: only the box may stop it
    work = tmp_path / "work"
    work.mkdir()
    (work / "attack.py").write_text(ATTACK)
    token = secrets.token_hex(8)
    with Box(tier, work, SmallLimits(), deny=[secret], python=python) as box:
        run = subprocess.run(
            box.command() + [box.python, "attack.py", str(secret), str(outside),
                             str(listener.getsockname()[1]), token],
            env=box.env(), preexec_fn=box.preexec, close_fds=True, capture_output=True,
            text=True, timeout=120)
        uid = box.uid
    time.sleep(0.2)
    report = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    return report, run, token, uid, outside


