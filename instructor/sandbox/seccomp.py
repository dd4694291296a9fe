"""Small seccomp filters, written as classic BPF with ctypes (no libseccomp needed).

    install(refuse_sockets())                 # socket(AF_INET...) -> EACCES from now on
    install(refuse_namespaces())              # what a Docker-like container refuses

A filter holds for this process and everything it starts, and cannot be lifted.
Installing one without CAP_SYS_ADMIN needs no_new_privs, which install() sets
(it also stops setuid programs from gaining rights). Supported on x86_64 and
aarch64; elsewhere supported() is False and install() raises OSError.
"""
import ctypes
import errno
import os
import platform

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
AF_UNIX, AF_NETLINK = 1, 16
# Flags of clone() that make new namespaces (CLONE_NEWNS ... CLONE_NEWCGROUP, CLONE_NEWTIME).
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | \
    0x20000000 | 0x40000000 | 0x00000080

# (audit arch, {name: number}) of the machines supported.
_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "clone": 56, "unshare": 272, "setns": 308,
                            "mount": 165, "umount2": 166, "pivot_root": 155,
                            "clone3": 435, "fsopen": 430, "fsmount": 432,
                            "move_mount": 429, "open_tree": 428}),
    "aarch64": (0xC00000B7, {"socket": 198, "clone": 220, "unshare": 97, "setns": 268,
                             "mount": 40, "umount2": 39, "pivot_root": 41,
                             "clone3": 435, "fsopen": 430, "fsmount": 432,
                             "move_mount": 429, "open_tree": 428}),
}
_X32_BIT = 0x40000000

# BPF opcodes
_LD_W_ABS, _JEQ_K, _JSET_K, _RET_K = 0x20, 0x15, 0x45, 0x06
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16   # struct seccomp_data (arg0 low 32 bits, little endian)


def supported():
    return platform.machine() in _ARCHES


def _errno(code):
    return SECCOMP_RET_ERRNO | (code & 0xFFFF)


def build(rules):
    """rules: [(syscall name, test, action)], test None (always), ('notin', values):
    arg0 not one of values, ('set', mask): arg0 & mask != 0; action: an errno number.
    -> the BPF program as (code, jt, jf, k) tuples."""
    arch, numbers = _ARCHES[platform.machine()]
    prog = [(_LD_W_ABS, 0, 0, _OFF_ARCH),
            (_JEQ_K, 1, 0, arch),
            (_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
            (_LD_W_ABS, 0, 0, _OFF_NR)]
    if arch == 0xC000003E:   # the x32 ABI would be a way around every rule: refused
        prog += [(0x35, 0, 1, _X32_BIT),            # JGE
                 (_RET_K, 0, 0, _errno(errno.ENOSYS))]
    for name, test, code in rules:
        nr = numbers[name]
        if test is None:
            prog += [(_JEQ_K, 0, 1, nr), (_RET_K, 0, 0, _errno(code))]
            continue
        kind, value = test
        # if nr matches: load arg0, test it, answer; reload nr afterwards.
        body = [(_LD_W_ABS, 0, 0, _OFF_ARG0)]
        if kind == "notin":
            n = len(value)
            body += [(_JEQ_K, n - i, 0, v) for i, v in enumerate(value)]
        elif kind == "set":
            body += [(_JSET_K, 0, 1, value)]
        else:
            raise ValueError(f"unknown test {kind!r}")
        body += [(_RET_K, 0, 0, _errno(code)), (_LD_W_ABS, 0, 0, _OFF_NR)]
        prog += [(_JEQ_K, 0, len(body), nr)] + body
    prog.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return prog


def refuse_sockets():
    """Every socket but a Unix one (local, e.g. a kernel's ipc transport) and a netlink
    one (which lists the machine's interfaces, as ZeroMQ does): no network."""
    return [("socket", ("notin", (AF_UNIX, AF_NETLINK)), errno.EACCES)]


def refuse_namespaces():
    """As Docker's default profile: no new namespaces, no mounts."""
    rules = [(n, None, errno.EPERM) for n in ("unshare", "setns", "mount", "umount2",
                                                "pivot_root", "fsopen", "fsmount",
                                                "move_mount", "open_tree")]
    rules.append(("clone", ("set", CLONE_NEW_FLAGS), errno.EPERM))
    rules.append(("clone3", None, errno.ENOSYS))   # its flags are out of a filter's reach
    return rules


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def install(rules):
    """Install the filter for rules in this process (and all it will start)."""
    if not supported():
        raise OSError(errno.ENOSYS, f"seccomp filters are not written for {platform.machine()}")
    prog = build(rules)
    array = (_Filter * len(prog))(*[_Filter(*ins) for ins in prog])
    fprog = _Prog(len(prog), array)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"no_new_privs: {os.strerror(e)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"seccomp: {os.strerror(e)}")


