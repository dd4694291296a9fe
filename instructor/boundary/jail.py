"""The `namespaces` tier: an allow-list bubblewrap sandbox with limits on totals (Linux).

    probe = bwrap_available()            # truthy, or .reason says why not
    with Jail(work_dir, data_dir=dataset_dir, read_only=[worker files], slot=0) as jail:
        subprocess.run(jail.command() + [sys.executable, ...], env=jail.env(),
                       preexec_fn=jail.preexec, close_fds=True, pass_fds=...)

It runs for root and for normal users alike (sandbox/box.py picks it first).

What a jailed process sees (everything else is absent, not just unreadable):
- read-only: /usr (with /bin, /lib, /lib64, /sbin as on the host), the Python
  installation and its packages (sys.prefix, sys.base_prefix, site-packages), a
  few files of /etc the dynamic loader needs, the data set folder, and the paths
  passed as read_only (e.g. the worker's files);
- read-write: a copy of work_dir, shown at work_dir's own path, /tmp, /dev/shm,
  all in ONE tmpfs of limits.disk bytes, so their total can never exceed it; and
  runtime_dir (for sockets shared with the grader, at the same path on both sides);
- a new /proc and a minimal /dev; own pid, ipc, uts, net (only a loopback of its
  own) and cgroup namespaces; bwrap --die-with-parent and --new-session; when the
  jailed command ends or the grader dies, the pid namespace's init dies and the
  kernel kills every process in it, however it detached itself;
- descriptors: only what Popen passes (use close_fds=True and pass_fds).

Two ways to build it, the same view either way:
- root: bwrap runs as root without a user namespace (it must reach an interpreter
  root may have installed under a private folder), the tmpfs is mounted on the
  host (runtime_dir lives in it too), bwrap keeps only CAP_SETUID/CAP_SETGID and a
  tiny trusted step drops to the slot's own unprivileged uid (uid_base + slot)
  before anything else runs. RLIMIT_NPROC counts every process and thread of that
  uid, so a fork bomb stops at limits.processes; each concurrently running jail
  needs its own slot.
- a normal user: bwrap makes a user namespace (as Debian, Ubuntu and Fedora allow);
  the tmpfs is bwrap's own /tmp, and a tiny trusted step inside binds the copy of
  work_dir and /dev/shm from it, then drops every capability before the command
  runs. The student's code runs as the grader's own uid outside the namespace, so
  RLIMIT_NPROC is sized on what that uid already runs (tasks_of) plus
  limits.processes; runtime_dir and the kernel's output log are host files,
  bounded per file by RLIMIT_FSIZE.

API:
- Probe(ok, reason); bwrap_available(uid=...) -> Probe (cached per uid).
- Jail(work_dir, data_dir=None, read_only=(), deny=(), slot=0, uid_base=61000,
  limits=None, python=sys.executable): limits is the grader's one Limits
  (grade/job.py; its processes and disk, default Limits()); __enter__ prepares the folders;
  command(cwd=None) -> argv prefix, the command to run follows; runtime_dir;
  preexec (for Popen): the process limit and umask 022; env(**extra) -> the
  minimal environment; uid: the student's uid (None for a normal user's jail);
  __exit__ removes everything. deny: folders that must stay hidden (the
  instructor's files, the repository): JailError if an allow-listed path
  contains one of them.
- JailError: the jail cannot be built as asked (message says why).
"""
import collections
import ctypes
import errno
import functools
import fcntl
import os
import resource
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile

from instructor.sandbox.limits import minimal_env, processes_of, tasks_of

MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2
# Runs as root inside the jail, in an isolated interpreter without site (nothing of
# the student's is imported): drop to the slot's uid, then run the real command.
_DROP = ("import os,sys;os.setgroups([]);os.setgid(int(sys.argv[2]));"
         "os.setuid(int(sys.argv[1]));os.execvp(sys.argv[3],sys.argv[3:])")
# Runs first in a normal user's jail (a user namespace, all capabilities still there),
# isolated from site and the student: the copy of the work folder and /dev/shm are
# bound from bwrap's size-limited /tmp, the files given for /tmp are copied in, then
# every capability goes (bounding set too) before the real command runs.
_INIT = r"""
import ctypes,errno,os,shutil,sys
L=ctypes.CDLL(None,use_errno=True)
work,cwd=sys.argv[1],sys.argv[2]
def fail(what):
    e=ctypes.get_errno() if not isinstance(what,OSError) else what.errno
    if e==errno.ENOSPC:sys.exit("jail: the hand-in's files exceed the disk limit")
    sys.exit("jail: %s: %s"%(what,os.strerror(e or 1)))
def bind(s,t):
    if L.mount(s.encode(),t.encode(),None,4096|16384,None)!=0:fail("bind "+t)
try:
    shutil.copytree("/.stage/work","/tmp/.work",symlinks=True)
    os.mkdir("/tmp/.shm",0o700)
    for n in os.listdir("/.stage/tmp"):
        p=os.path.join("/.stage/tmp",n)
        (shutil.copytree if os.path.isdir(p) else shutil.copy)(p,os.path.join("/tmp",n))
except OSError as e:fail(e)
bind("/tmp/.work",work);bind("/tmp/.shm","/dev/shm")
for p in("/.stage/work","/.stage/tmp"):L.umount2(p.encode(),2)
for c in range(64):L.prctl(24,c,0,0,0)
L.prctl(47,4,0,0,0)
class H(ctypes.Structure):_fields_=[("v",ctypes.c_uint32),("p",ctypes.c_int)]
class D(ctypes.Structure):_fields_=[("e",ctypes.c_uint32),("p",ctypes.c_uint32),("i",ctypes.c_uint32)]
if L.capset(ctypes.byref(H(0x20080522,0)),(D*2)())!=0:fail("capset")
os.chdir(cwd);os.execvp(sys.argv[3],sys.argv[3:])
"""
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
              "/etc/localtime")


class JailError(RuntimeError):
    pass


Probe = collections.namedtuple("Probe", "ok reason")
Probe.__bool__ = lambda self: bool(self.ok)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(target, size):
    # Root's and private (0700): bwrap mounts its parts while it still has its
    # capabilities; other users of the host cannot look in.
    opts = f"size={int(size)},mode=0700".encode()
    if _libc().mount(b"tmpfs", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
        e = ctypes.get_errno()
        raise JailError(f"cannot mount a tmpfs of {size} bytes on {target}: {os.strerror(e)}")


def _umount(target):
    if _libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e != errno.EINVAL:  # EINVAL: not mounted
            raise JailError(f"cannot unmount {target}: {os.strerror(e)}")


def python_paths(python=sys.executable):
    """The folders of this interpreter and its installed packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(python))}
    paths.update(v for k, v in sysconfig.get_paths().items() if "include" not in k)
    paths.update(site.getsitepackages())
    return _outermost(os.path.realpath(p) for p in paths if p and os.path.isdir(p))


def _outermost(paths):
    """The paths that are not inside another one of them, shortest first."""
    kept = []
    for path in sorted(set(paths), key=len):
        if not any(_is_under(path, k) for k in kept):
            kept.append(path)
    return kept


def _is_under(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class Jail:
    def __init__(self, work_dir, data_dir=None, read_only=(), deny=(), slot=0,
                 uid_base=61000, limits=None, python=sys.executable):
        self.work_dir = os.path.realpath(work_dir)
        if not os.path.isdir(self.work_dir):
            raise JailError(f"work folder {work_dir} does not exist")
        self.data_dir = os.path.realpath(data_dir) if data_dir else None
        self.read_only = [os.path.realpath(p) for p in read_only]
        self.deny = [os.path.realpath(p) for p in deny]
        self.rootless = os.geteuid() != 0
        self.uid = None if self.rootless else int(uid_base) + int(slot)
        if self.uid is not None and self.uid <= 0:
            raise JailError("the jail's uid must not be root")
        if limits is None:
            from instructor.grade.job import Limits
            limits = Limits()
        self.limits = limits      # .processes: of the jail's uid; .disk: work, /tmp, /dev/shm
        # The folders above it resolved (they are shown at their real place), the
        # name kept (a virtual environment's python is a link to the base one).
        self.python = os.path.join(os.path.realpath(os.path.dirname(python)),
                                   os.path.basename(python))
        self.state_dir = None

    # ---- the file system --------------------------------------------------------------------
    def allowed(self):
        """(path, is_python) pairs shown read-only; checked against deny."""
        paths = ["/usr"] + python_paths(self.python) + self.read_only
        if self.data_dir:
            paths.append(self.data_dir)
        for path in paths:
            for secret in self.deny:
                if _is_under(secret, path):
                    raise JailError(f"{path} would be visible in the jail, and it holds "
                                    f"{secret}, which must stay hidden")
            if not os.path.exists(path):
                raise JailError(f"{path} does not exist")
        return _outermost(paths)

    def __enter__(self):
        for secret in self.deny:
            if _is_under(secret, self.work_dir):
                raise JailError(f"the work folder {self.work_dir} holds {secret}, which must "
                                "stay hidden")
        if self.rootless:
            self.state_dir = tempfile.mkdtemp(prefix="jail-")
            for name in ("tmp", "run"):
                os.mkdir(os.path.join(self.state_dir, name), 0o700)
            return self
        busy = processes_of(self.uid)
        if busy:
            raise JailError(f"uid {self.uid} already runs processes {busy[:5]}: another "
                            "jail uses this slot")
        self.state_dir = tempfile.mkdtemp(prefix="jail-")
        os.chmod(self.state_dir, 0o700)
        _mount_tmpfs(self.state_dir, self.limits.disk)
        try:
            for name in ("work", "tmp", "shm", "run"):
                # 0755: bwrap (root without CAP_DAC_OVERRIDE) must enter it; only
                # this jail's mount namespace shows it, and state_dir is root's 0700.
                os.mkdir(os.path.join(self.state_dir, name), 0o755)
                os.chown(os.path.join(self.state_dir, name), self.uid, self.uid)
            self._copy_in(self.work_dir, os.path.join(self.state_dir, "work"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.state_dir:
            if not self.rootless:
                _umount(self.state_dir)
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def _copy_in(self, src, dst):
        """Regular files and folders only; a hand-in larger than the limit fails clearly."""
        try:
            for root, dirs, files in os.walk(src):
                rel = os.path.relpath(root, src)
                target = os.path.normpath(os.path.join(dst, rel))
                for d in dirs:
                    if not os.path.islink(os.path.join(root, d)):
                        os.mkdir(os.path.join(target, d), 0o755)
                        os.chown(os.path.join(target, d), self.uid, self.uid)
                for f in files:
                    path = os.path.join(root, f)
                    if stat.S_ISREG(os.lstat(path).st_mode):
                        shutil.copyfile(path, os.path.join(target, f), follow_symlinks=False)
                        os.chown(os.path.join(target, f), self.uid, self.uid)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise JailError(f"{src} is larger than the disk limit of "
                                f"{self.limits.disk >> 20} MB") from None
            raise

    def collect(self, dest, names, max_bytes=None):
        """Copy the named files (paths relative to the work folder) from the jail's
        copy to dest, only if they are regular files; returns the names copied."""
        if not self.state_dir or self.rootless:
            raise JailError("collect() must run inside the `with Jail(...)` block, as root")
        root = os.path.realpath(os.path.join(self.state_dir, "work"))
        copied = []
        for name in names:
            src = os.path.normpath(os.path.join(root, name))
            if not _is_under(src, root) or os.path.realpath(os.path.dirname(src)) != \
                    os.path.dirname(src):
                continue  # outside, or through a symlinked folder
            try:
                fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode) or (max_bytes and info.st_size > max_bytes):
                    continue
                target = os.path.join(dest, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as out:
                    shutil.copyfileobj(f, out)
            copied.append(name)
        return copied

    # ---- the command ------------------------------------------------------------------------
    def command(self, cwd=None):
        """The argv prefix: bwrap, its options, and the drop to the slot's uid."""
        if not self.state_dir:
            raise JailError("command() must run inside the `with Jail(...)` block")
        bwrap = shutil.which("bwrap")
        if not bwrap:
            raise JailError("bwrap is not installed")
        cmd = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session",
               "--hostname", "jail", "--cap-drop", "ALL"]
        if self.rootless:
            cmd += ["--unshare-user", "--uid", "0", "--gid", "0",
                    "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
        else:
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        # Writable places first: a read-only path under /tmp (a data set) stays visible.
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        if self.rootless:
            cmd += ["--size", str(int(self.limits.disk)), "--perms", "1777",
                    "--tmpfs", "/tmp"]
        else:
            cmd += ["--bind", os.path.join(self.state_dir, "shm"), "/dev/shm",
                    "--bind", os.path.join(self.state_dir, "tmp"), "/tmp"]
        allowed = self.allowed()
        # bwrap would create the folders above each bind point as 0700 root (which the
        # slot's uid cannot cross): create them first, traversable.
        parents = set()
        etc = [p for p in _ETC_FILES if os.path.exists(p)]
        for path in allowed + etc + [self.work_dir, self.runtime_dir]:
            parent = os.path.dirname(path)
            while parent not in ("/", "") and parent not in ("/tmp", "/dev", "/proc"):
                parents.add(parent)
                parent = os.path.dirname(parent)
        for parent in sorted(parents, key=len):
            if not any(_is_under(parent, a) for a in allowed):
                cmd += ["--perms", "0755", "--dir", parent]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for path in allowed:
            cmd += ["--ro-bind", path, path]
        for path in etc:
            cmd += ["--ro-bind", path, path]
        cmd += ["--bind", self.runtime_dir, self.runtime_dir]
        if self.rootless:
            return cmd + ["--dir", self.work_dir,
                          "--ro-bind", self.work_dir, "/.stage/work",
                          "--ro-bind", os.path.join(self.state_dir, "tmp"), "/.stage/tmp",
                          "--", self.python, "-I", "-S", "-c", _INIT, self.work_dir,
                          cwd or self.work_dir]
        return cmd + ["--bind", os.path.join(self.state_dir, "work"), self.work_dir,
                      "--chdir", cwd or self.work_dir, "--",
                      self.python, "-I", "-S", "-c", _DROP, str(self.uid), str(self.uid)]

    def process_limit(self):
        """RLIMIT_NPROC for the jailed command, taken when it starts: the limit itself
        for the slot's own uid; for a normal user, what that user runs now plus it."""
        if not self.rootless:
            return self.limits.processes
        return tasks_of(os.getuid()) + self.limits.processes

    @property
    def runtime_dir(self):
        """A folder at the same path for the grader and the jail, for Unix sockets and
        connection files (e.g. a Jupyter kernel's ipc transport); counted in the disk
        total like the rest."""
        if not self.state_dir:
            raise JailError("runtime_dir exists only inside the `with Jail(...)` block")
        return os.path.join(self.state_dir, "run")

    def preexec(self):
        """For Popen(preexec_fn=...): the process limit of the slot's uid."""
        n = self.process_limit()
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        # bwrap creates the folders above each bind with this umask: they must be
        # traversable by the slot's uid.
        os.umask(0o022)

    def env(self, **extra):
        return minimal_env("/tmp", **extra)


@functools.lru_cache(maxsize=None)
def bwrap_available(uid=61999):
    """Probe(True, "") if a jail can be built and run here, else Probe(False, why)."""
    if not sys.platform.startswith("linux"):
        return Probe(False, f"the jail needs Linux (this is {sys.platform})")
    if not shutil.which("bwrap"):
        return Probe(False, "bwrap (bubblewrap) is not installed; install the 'bubblewrap' "
                            "package")
    # Probes on one machine take turns: they all use the one probe uid (grading
    # processes and Dask workers probe at the same time when they start).
    lock_file = os.path.join(tempfile.gettempdir(), f"grader-jail-probe-{os.geteuid()}-{uid}.lock")
    lock = os.fdopen(os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+")
    with lock, tempfile.TemporaryDirectory() as work:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            from instructor.grade.job import Limits
            with Jail(work, uid_base=uid, limits=Limits(disk=1 << 20)) as jail:
                run = subprocess.run(jail.command() + [jail.python, "-I", "-S", "-c",
                                                       "import os; print(os.getuid())"],
                                     env=jail.env(), preexec_fn=jail.preexec, close_fds=True,
                                     stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        except (JailError, OSError, subprocess.TimeoutExpired) as e:
            return Probe(False, f"a test jail could not be built: {e}")
    want = str(0 if os.geteuid() != 0 else uid).encode()
    if run.returncode != 0 or run.stdout.strip() != want:
        err = run.stderr.decode(errors="replace").strip()[-300:]
        return Probe(False, f"bwrap fails here (exit {run.returncode}): {err or 'no message'}")
    return Probe(True, "")
