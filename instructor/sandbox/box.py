"""One isolation layer for everything that runs a hand-in's code: the notebook's
kernel (sandbox/kernel.py) and the trusted worker (grade/trusted.py).

    tier = choose_tier("auto")         # "namespaces", "uid" or "none"; SandboxError if none
    with Box(tier, folder, limits, read_only=[...], deny=[...], data_dir=...) as box:
        argv = box.command(cwd=box.folder) + [sys.executable, ...]
        subprocess.Popen(argv, env=box.env(), preexec_fn=box.preexec, close_fds=True)

A box is described once: its tier, the folder the code works in (copied in;
box.folder is where the boxed process sees it), the limits (job.Limits:
processes, disk, memory, max_file_write), what it may see (read_only, data_dir,
the interpreter) and what it must not (deny); reachable: what the uid tier keeps
reachable besides (what boxes of other kinds running at the same time need, so
that every box seals the folders alike). The tiers, strongest first:

- namespaces: bubblewrap (boundary/jail.py), for root and for normal users (user
  namespaces): an allow-list view of the file system, private mount, pid, ipc,
  network and uts namespaces, one size-limited tmpfs for the folder, /tmp and
  /dev/shm, a process limit; everything it started dies with it.
- uid: root where namespaces are refused (Docker, Gradescope, Kubernetes pods):
  the code runs under a dedicated unprivileged uid (a slot, sandbox/slots.py) in a
  private folder of its own (its HOME and TMPDIR too); every path in deny is made
  unreadable to other users before anything runs (seal(); what it must reach,
  the interpreter, the data set and read_only, stays reachable); sockets other
  than Unix ones are refused by a seccomp filter (sandbox/seccomp.py, through
  drop.py); RLIMIT_NPROC of its uid, RLIMIT_AS, RLIMIT_FSIZE per file; every
  process of its uid is killed and its files in /tmp, /var/tmp and /dev/shm are
  removed when the box closes. Not protected: the total disk it fills (no tmpfs:
  only the size of each file is bounded), and what any user of the machine may
  read (world-readable files outside the denied folders).
- none: no isolation, only with --sandbox none; the code runs with the grader's
  rights, only the rlimits apply.
"""
import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

from instructor.sandbox.limits import kill_uid, minimal_env, processes_of  # noqa: F401

TIERS = ("namespaces", "uid", "none")
CHOICES = ("auto",) + TIERS
ALIASES = {"bwrap": "namespaces"}     # the name of the namespaces tier in older versions
DROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drop.py")
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")

BARE_NOTE = ("graded WITHOUT a sandbox (--sandbox none): the hand-in's code ran with the "
             "grader's rights and could have read or changed anything the grader can")


class SandboxError(RuntimeError):
    """No tier can run here (or the one asked for cannot), and grading bare was not asked for."""


# ---- choosing a tier ------------------------------------------------------------------------
def probe(tier):
    """(ok, reason): can tier run here? (a trial box runs a program)."""
    if tier == "none":
        return True, ""
    if tier == "namespaces":
        from instructor.boundary.jail import bwrap_available
        p = bwrap_available()
        return bool(p), (p.reason or "")
    if tier == "uid":
        return _uid_probe()
    raise SandboxError(f"unknown sandbox tier {tier!r}")


_UID_PROBE = {}


def _uid_probe():
    if "result" in _UID_PROBE:
        return _UID_PROBE["result"]
    if not sys.platform.startswith("linux"):
        result = (False, f"needs Linux (this is {sys.platform})")
    elif os.geteuid() != 0:
        result = (False, "needs root (it runs student code under a dedicated uid)")
    else:
        from instructor.grade.job import Limits
        small = Limits(processes=16, disk=1 << 20, memory=1 << 30, max_file_write=1 << 20)
        try:
            with tempfile.TemporaryDirectory() as work, Box("uid", work, small) as box:
                run = subprocess.run(box.command() + [sys.executable, "-I", "-S", "-c",
                                                      "import os; print(os.getuid())"],
                                     env=box.env(), preexec_fn=box.preexec, close_fds=True,
                                     stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                ok = run.returncode == 0 and run.stdout.strip() == str(box.uid).encode()
                err = run.stderr.decode(errors="replace").strip()[-300:]
            result = (ok, "" if ok else f"a trial run failed (exit {run.returncode}): {err}")
        except (OSError, SandboxError, subprocess.TimeoutExpired) as e:
            result = (False, f"a trial box could not be built: {e}")
    _UID_PROBE["result"] = result
    return result


def choose_tier(requested="auto"):
    """'auto' | 'namespaces' | 'uid' | 'none' (| 'bwrap') -> the tier to grade with.
    auto: the strongest that runs here; SandboxError (saying what would make each
    tier work) when none does, or when the one asked for cannot run."""
    requested = ALIASES.get(requested, requested)
    if requested == "none":
        return "none"
    if requested not in CHOICES:
        raise SandboxError(f"unknown --sandbox {requested!r} (use {', '.join(CHOICES)})")
    wanted = ("namespaces", "uid") if requested == "auto" else (requested,)
    reasons = {}
    for tier in wanted:
        ok, why = probe(tier)
        if ok:
            return tier
        reasons[tier] = why
    lines = [f"  {tier}: {why}\n    to make it work: {HOW_TO[tier]}"
             for tier, why in reasons.items()]
    raise SandboxError(
        "no sandbox tier can run here, so nothing was graded:\n" + "\n".join(lines) +
        "\nTo grade without any isolation anyway (only in a throw-away container or VM "
        "that holds nothing else), pass --sandbox none.")


HOW_TO = {
    "namespaces": "Linux with the 'bubblewrap' package (apt-get install bubblewrap, dnf "
                  "install bubblewrap) and unprivileged user namespaces allowed (the default "
                  "on Debian, Fedora and Ubuntu with bwrap's AppArmor profile; sysctl "
                  "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or root "
                  "with CAP_SYS_ADMIN (a container started with --privileged or a seccomp "
                  "profile allowing namespaces)",
    "uid": "run the grader as root (inside a container: the default Docker, Gradescope and "
           "Kubernetes setup)",
}


# ---- the box --------------------------------------------------------------------------------
class Box:
    def __init__(self, tier, folder, limits, read_only=(), deny=(), data_dir=None,
                 python=sys.executable, reachable=()):
        tier = ALIASES.get(tier, tier)
        if tier not in TIERS:
            raise SandboxError(f"unknown sandbox tier {tier!r}")
        self.tier, self.limits = tier, limits
        # The folders above it resolved (a box shows or opens them at their real
        # place), the name kept (a virtual environment's python links to the base one).
        self.python = os.path.join(os.path.realpath(os.path.dirname(python)),
                                   os.path.basename(python))
        self.source = os.path.realpath(folder)
        self.read_only = [os.path.realpath(p) for p in read_only]
        self.deny = [os.path.realpath(p) for p in deny]
        self.data_dir = os.path.realpath(data_dir) if data_dir else None
        # uid tier: also kept reachable (never shown by namespaces), so that boxes for
        # other purposes running side by side seal the same folders alike.
        self.reachable = [os.path.realpath(p) for p in reachable if p]
        self.jail = None
        self.uid = None
        self.state_dir = None
        self._stack = None

    # where things are, for the grader and for the boxed code
    folder = property(lambda self: self._folder)
    runtime_dir = property(lambda self: self._runtime)
    seed_tmp = property(lambda self: self._seed)     # host folder: its files appear in tmp
    tmp = property(lambda self: self._tmp)           # the boxed code's HOME and TMPDIR
    mounted = property(lambda self: self.jail.state_dir
                       if self.jail is not None and not self.jail.rootless else None)

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        try:
            getattr(self, f"_enter_{self.tier}")()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False

    def _enter_namespaces(self):
        from instructor.boundary.jail import Jail, JailError
        from instructor.sandbox.slots import jail_slot
        slot = self._stack.enter_context(jail_slot()) if os.geteuid() == 0 else 0
        try:
            self.jail = self._stack.enter_context(Jail(
                self.source, data_dir=self.data_dir, read_only=self.read_only, deny=self.deny,
                slot=slot, python=self.python, limits=self.limits))
        except JailError as e:
            raise SandboxError(str(e)) from None
        self.uid, self.state_dir = self.jail.uid, self.jail.state_dir
        self.python = self.jail.python      # the path that exists inside
        self._folder, self._runtime = self.source, self.jail.runtime_dir
        self._seed, self._tmp = os.path.join(self.state_dir, "tmp"), "/tmp"

    def _enter_uid(self):
        from instructor.boundary.jail import python_paths
        from instructor.sandbox.slots import UID_BASE, jail_slot
        if os.geteuid() != 0:
            raise SandboxError("the uid tier needs root")
        slot = self._stack.enter_context(jail_slot())
        self.uid = uid = UID_BASE + slot
        if processes_of(uid):
            raise SandboxError(f"uid {uid} already runs processes: another box uses this slot")
        allowed = python_paths(self.python) + self.read_only + self.reachable + \
            ([self.data_dir] if self.data_dir else [])
        seal(self.deny, allowed)
        self.state_dir = tempfile.mkdtemp(prefix="box-")
        self._stack.callback(self._end_uid)
        os.chmod(self.state_dir, 0o711)     # root's; the uid may cross it, not list it
        for name in ("work", "tmp", "run"):
            os.mkdir(os.path.join(self.state_dir, name), 0o700)
        _copy_tree(self.source, os.path.join(self.state_dir, "work"))
        for name in ("work", "tmp", "run"):
            _chown_tree(os.path.join(self.state_dir, name), uid)
        self._folder = os.path.join(self.state_dir, "work")
        self._runtime = os.path.join(self.state_dir, "run")
        self._seed = self._tmp = os.path.join(self.state_dir, "tmp")

    def _end_uid(self):
        kill_uid(self.uid)
        remove_files_of(self.uid, SHARED_TMP)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _enter_none(self):
        self.state_dir = tempfile.mkdtemp(prefix="box-")   # short: socket paths
        self._stack.callback(shutil.rmtree, self.state_dir, ignore_errors=True)
        for name in ("tmp", "run"):
            os.mkdir(os.path.join(self.state_dir, name), 0o700)
        self._folder = self.source
        self._runtime = os.path.join(self.state_dir, "run")
        self._seed = self._tmp = os.path.join(self.state_dir, "tmp")

    # ---- running code in it ---------------------------------------------------------------
    def command(self, cwd=None):
        """The argv prefix that runs a command in the box, in cwd (default: its folder)."""
        cwd = cwd or self.folder
        if self.tier == "namespaces":
            return self.jail.command(cwd=cwd)
        if self.tier == "uid":
            return [self.python, "-I", "-S", DROP, str(self.uid), cwd]
        return []

    def process_limit(self):
        """RLIMIT_NPROC for the boxed command (0: none: bare code runs as the grader)."""
        if self.tier == "namespaces":
            return self.jail.process_limit()
        return self.limits.processes if self.tier == "uid" else 0

    def preexec(self):
        """For Popen(preexec_fn=...)."""
        import resource
        n = self.process_limit()
        if n:
            resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        if self.limits.max_file_write:
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.limits.max_file_write,) * 2)
        os.umask(0o022)

    def env(self, threads=1, **extra):
        return minimal_env(self.tmp, threads=threads, **extra)

    def give(self, path):
        """Make a file or folder the grader put into seed_tmp or folder the box's own."""
        if self.uid is not None:
            _chown_tree(path, self.uid)


# ---- the uid tier's file system -----------------------------------------------------------
def _is_under(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def seal(deny, allowed):
    """Make every path in deny unreadable to other users (the boxed uid), except the
    way to the allowed paths: folders above an allowed path keep 'others may list
    and enter' (imports list folders), everything else in them loses every right of
    others. Folders above an allowed path outside deny get 'others may enter'."""
    allowed = [os.path.realpath(p) for p in allowed if p and os.path.exists(p)]
    for path in allowed:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            if not any(_is_under(parent, d) for d in deny):
                _add_mode(parent, 0o001)
            parent = os.path.dirname(parent)
    for d in deny:
        _seal_one(os.path.realpath(d), allowed)


def _seal_one(path, allowed):
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        return
    if any(_is_under(path, a) for a in allowed):
        return    # allowed itself
    inner = [a for a in allowed if _is_under(a, path)]
    if not inner or not stat.S_ISDIR(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o007)
        return
    os.chmod(path, (stat.S_IMODE(info.st_mode) & ~0o007) | 0o005)
    for name in os.listdir(path):
        _seal_one(os.path.join(path, name), inner)


def _add_mode(path, bits):
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & bits != bits:
            os.chmod(path, mode | bits)
    except OSError:
        pass


def _copy_tree(src, dst):
    """Regular files and folders only (never links, pipes or devices)."""
    for root, dirs, files in os.walk(src):
        target = os.path.normpath(os.path.join(dst, os.path.relpath(root, src)))
        for d in dirs:
            if not os.path.islink(os.path.join(root, d)):
                os.mkdir(os.path.join(target, d), 0o700)
        for f in files:
            path = os.path.join(root, f)
            if stat.S_ISREG(os.lstat(path).st_mode):
                shutil.copyfile(path, os.path.join(target, f), follow_symlinks=False)


def _chown_tree(top, uid):
    os.chown(top, uid, uid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def remove_files_of(uid, folders):
    """Remove what uid left at the top of shared folders (/tmp ...); returns the paths."""
    removed = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if info.st_uid != uid:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
            removed.append(path)
    return removed
