"""The execution step of the grader (grade/one.py): nbgrader's Execute, hardened.

GuardedExecute replaces nbgrader's Execute when hand-ins are autograded. On top of
what Execute does (run every cell, record errors, interrupt a cell that runs past
the timeout), it

- survives a kernel that dies (os._exit, a crash in compiled code) or a cell that
  cannot be interrupted: the cell gets an error output (so it scores 0), the
  kernel is restarted, the cells before it are run again without their outputs
  to rebuild the state, and grading goes on with the next cell;
- stops at the hand-in's deadline: cells it cannot start in time get an error;
- keeps at most max_output_bytes of output per cell and max_notebook_output_bytes
  in the whole notebook, counting every kind of output: streams, results,
  displays, display updates, widget messages and errors (a flood cannot fill the
  grader's memory, the stored notebook or the feedback page); a cell's first
  error is always kept (shortened if need be) so the cell still fails, and a
  dropped stderr output still makes the cell fail, as it would have without the cap;
- checks after each test cell that the functions the tests rely on are the
  originals: numpy's and the builtins (a hand-in could replace np.allclose by a
  function that always says yes), the notebook's `np`, and the IPython machinery
  that reports exceptions. A change makes the test cell fail. The check runs in
  the kernel, so it stops casual cheating only: code written against this
  grader's internals could still get around it.
"""
import ast
import functools
import json
import os
import re
import secrets
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.client import NotebookClient
from nbformat.notebooknode import NotebookNode
from traitlets import Float, Integer, Unicode

from nbgrader.preprocessors import Execute

from instructor.feedback.page import is_test_cell

try:
    from jupyter_core.utils import run_sync, ensure_async
except ImportError:  # older jupyter_core
    from nbclient.util import run_sync, ensure_async


def error_output(ename, evalue):
    """An error output, as the kernel would send it."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


# Run in the kernel before the first cell, and again after a restart. It keeps the
# originals in a closure inside a module object under a random name, and returns
# nothing; check() lists what changed since.
GUARD_SETUP = r'''
def _setup(module_name):
    import builtins, sys, types
    import numpy, numpy.linalg
    kinds = (types.BuiltinFunctionType, type)
    originals = {}
    for name, value in vars(builtins).items():
        if isinstance(value, kinds):
            originals[("builtins", name)] = value
    for mod in (numpy, numpy.linalg):
        for name, value in vars(mod).items():
            if not name.startswith("_") and callable(value) and not isinstance(value, types.ModuleType):
                originals[(mod.__name__, name)] = value
    def code_of(f):
        f = getattr(f, "_implementation", f)      # numpy 2 wraps functions in dispatchers
        return getattr(f, "__code__", None)
    codes = {key: code_of(f) for key, f in originals.items()}
    shell = get_ipython()
    shell_cls = type(shell)
    methods = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback",
               "_showtraceback", "showsyntaxerror", "user_expressions", "transform_cell")
    # Some are set on the instance (bound methods: compared with ==, not `is`).
    shell_methods = {name: (getattr(shell_cls, name, None), vars(shell).get(name)) for name in methods}
    def check():
        changed = []
        for (modname, name), value in originals.items():
            mod = builtins if modname == "builtins" else sys.modules.get(modname)
            now = vars(mod).get(name) if mod is not None else None
            if now is not value or code_of(now) is not codes[(modname, name)]:
                changed.append(f"{modname}.{name}")
        if sys.modules.get("numpy") is not numpy:
            changed.append("the numpy module")
        main = vars(sys.modules["__main__"])
        if "np" in main and main["np"] is not numpy:
            changed.append("np")
        for name, (method, bound) in shell_methods.items():
            if getattr(shell_cls, name, None) is not method or vars(shell).get(name) != bound:
                changed.append(f"IPython's {name}")
        if shell.custom_exceptions:
            changed.append("IPython's exception handling (set_custom_exc)")
        return changed
    guard = types.ModuleType(module_name)
    guard.check = check
    sys.modules[module_name] = guard
_setup(%r)
del _setup
'''


# Counted for an output whose size cannot be measured (nested past recursion limits):
# more than any budget, so it is dropped.
UNMEASURABLE = 1 << 62


# ---- the packages a hand-in may import --------------------------------------------------
# The gate itself is boundary/gate.py; the kernel runs its source, in a namespace of its
# own, before the first cell (and after a restart), so the notebook sees none of its names.
GATE_SETUP = r'''
def _setup(source, allowed, message):
    namespace = {"__name__": "_package_gate"}
    exec(compile(source, "package_gate", "exec"), namespace)
    namespace["install"](allowed, message)
_setup(%r, %r, %r)
del _setup
'''


def _normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path):
    """The distributions a requirements file names (no versions, no options)."""
    from packaging.requirements import InvalidRequirement, Requirement
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                names.append(Requirement(line).name)
            except InvalidRequirement:
                continue
    return names


def allowed_modules(requirements):
    """Top-level module names of the named distributions and everything they require
    (installed here, markers evaluated, no extras)."""
    import importlib.metadata as md
    from packaging.requirements import InvalidRequirement, Requirement
    seen, todo = set(), list(requirements)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for spec in dist.requires or []:
            try:
                req = Requirement(spec)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(module for module, dists in md.packages_distributions().items()
                  if any(_normal(d) in seen for d in dists))


def requirements_path():
    """The assignment's requirements.txt: what a student's environment is made from."""
    from instructor.assignment import REPO_ROOT
    return os.path.join(REPO_ROOT, "requirements.txt")


@functools.lru_cache(maxsize=8)
def package_gate(requirements_file, extra=()):
    """(allowed top-level modules, message) of the gate for the packages of
    requirements_file (and of extra, e.g. what the kernel itself needs)."""
    names = requirement_names(requirements_file)
    message = ("No module named '{name}' in grading: the grader has only Python's standard "
               "library and the packages of the assignment's requirements.txt ("
               + ", ".join(names) + ") with what they need. Use those, or ask your "
               "instructor.")
    return allowed_modules(names + list(extra)), message


def package_gate_code(requirements_file):
    """The code that installs the package gate in a kernel for requirements_file."""
    from instructor.boundary import gate
    with open(gate.__file__, encoding="utf-8") as f:
        source = f.read()
    # The kernel itself (IPython, ipykernel) imports parts of itself lazily.
    allowed, message = package_gate(requirements_file, ("ipykernel",))
    return GATE_SETUP % (source, allowed, message)


def output_size(msg):
    """Bytes (characters) of output a kernel message carries."""
    try:
        content = msg.get("content") or {}
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        if kind == "stream":
            return len(str(content.get("text", "")))
        if kind == "error":
            return (len(str(content.get("ename", ""))) + len(str(content.get("evalue", "")))
                    + sum(len(str(line)) for line in content.get("traceback") or []))
        return len(json.dumps(content, default=str))
    except Exception:  # not a dict, or nested too deep to measure
        return UNMEASURABLE


# ---- outputs that are not valid notebook outputs ---------------------------------------
# A kernel message becomes a notebook output only if nbformat would accept it; a hand-in
# can publish anything (display_pub.publish with a dict as text/plain, a mime bundle that
# is not a dict, metadata that is a list, a stream named "stdin", ...). Such an output is
# replaced by a short text placeholder, so the notebook stays valid, the cell keeps running
# and nothing of it reaches a page.
_DISPLAY_TYPES = ("display_data", "execute_result", "update_display_data")
_JSON_MIME = re.compile(r"^application/(.+\+)?json$")


def _text_value(value):
    """nbformat's multiline string: a str or a list of str."""
    return isinstance(value, str) or (isinstance(value, list)
                                       and all(isinstance(v, str) for v in value))


def output_problem(msg):
    """Why the message's content is not a valid notebook output, or None if it is."""
    kind = msg.get("msg_type")
    content = msg.get("content")
    if not isinstance(content, dict):
        return "its content is not a JSON object"
    if kind == "stream":
        if content.get("name") not in ("stdout", "stderr"):
            return "a stream other than stdout or stderr"
        if not _text_value(content.get("text")):
            return "stream text that is not text"
    elif kind == "error":
        if not (isinstance(content.get("ename"), str) and isinstance(content.get("evalue"), str)
                and isinstance(content.get("traceback"), list)
                and all(isinstance(t, str) for t in content["traceback"])):
            return "an error whose name, message or traceback is not text"
    elif kind in _DISPLAY_TYPES:
        data = content.get("data")
        if not isinstance(data, dict):
            return "display data that is not a mime bundle"
        for mime, value in data.items():
            if not isinstance(mime, str) or "/" not in mime:
                return f"a mime type that is not one ({str(mime)[:40]!r})"
            if _JSON_MIME.match(mime):
                continue          # any JSON value
            if not _text_value(value):
                return f"{mime[:60]} data of type {type(value).__name__}, not text"
        if not isinstance(content.get("metadata", {}), dict):
            return "output metadata that is not a JSON object"
        if kind == "execute_result" and not (content.get("execution_count") is None or
                                             type(content.get("execution_count")) is int):
            return "an execution count that is not a number"
    return None


def placeholder_output(reason):
    """The inert text shown where an invalid output was."""
    return NotebookNode(output_type="stream", name="stdout",
                        text=f"[an output was removed by the grader: {reason}]\n")


class GuardedExecute(Execute):
    """nbgrader's Execute that survives dead or stuck kernels, with an output cap,
    a deadline and a check of the test environment (see the module docstring)."""

    max_output_bytes = Integer(1_000_000, help="output kept per cell").tag(config=True)
    max_notebook_output_bytes = Integer(4_000_000, help="output kept for the whole notebook"
                                        ).tag(config=True)
    deadline = Float(0.0, help="time.time() after which no cell is started (0: none)").tag(config=True)
    max_restarts = Integer(3, help="kernel restarts before the remaining cells are given up").tag(config=True)
    events_file = Unicode("", help="JSON lines file for what happened (timeouts, restarts, ...)").tag(config=True)
    results_file = Unicode("", help="where the kernel saves the notebook's results as data "
                                    "after the last cell (boundary/results.py); '' for none").tag(config=True)
    requirements_file = Unicode("", help="the requirements.txt whose packages a hand-in may "
                                         "import ('' for the assignment's; 'none' for any)"
                                ).tag(config=True)

    # ---- bookkeeping -------------------------------------------------------------
    def _event(self, kind, cell_index, detail=""):
        grade_id = self.nb.cells[cell_index].metadata.get("nbgrader", {}).get("grade_id", "")
        event = {"kind": kind, "cell": cell_index, "grade_id": grade_id, "detail": detail}
        if self.events_file:
            with open(self.events_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    def _remaining(self):
        return None if not self.deadline else self.deadline - time.time()

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        remaining = self._remaining()
        if remaining is not None:
            # Leave a little time to interrupt the cell and record its error.
            budget = max(1, int(remaining) - 5)
            timeout = budget if timeout is None else min(timeout, budget)
        return timeout

    # ---- the output caps ---------------------------------------------------------
    # Every byte a cell's messages carry counts: streams, results, displays, errors,
    # display updates (which rewrite earlier outputs) and widget messages (kept in
    # the notebook's metadata), against the cell's budget and the notebook's.
    # Counting what was offered, not what is left after clear_output, bounds a
    # print-and-clear loop as well.
    ERROR_KEEP = 2000    # characters of an error's message kept once a budget is spent

    def _cap_reset(self):
        self._output_used = {}        # cell index -> bytes of output offered
        self._output_total = 0        # bytes kept in the whole notebook
        self._truncated, self._dropped_stderr = set(), set()
        self._total_hit = None        # the cell where the notebook's budget ran out
        self._cap_cell = 0            # the cell whose messages are being processed
        self._bad_seen = set()        # (cell index, reason) of invalid outputs recorded

    def _admit(self, cell_index, size):
        """Count size bytes of output for the cell; True if they may be kept."""
        used = self._output_used.get(cell_index, 0) + size
        self._output_used[cell_index] = used
        if used > self.max_output_bytes:
            self._truncated.add(cell_index)
            return False
        if self._output_total + size > self.max_notebook_output_bytes:
            self._truncated.add(cell_index)
            if self._total_hit is None:
                self._total_hit = cell_index
                self._event("output-total", cell_index, f"{self.max_notebook_output_bytes} bytes")
            return False
        self._output_total += size
        return True

    def _short_error(self, msg, outs):
        """An error that did not fit: kept short (it makes the cell fail, as it should),
        once per cell; None for a second one."""
        if any(o.get("output_type") == "error" for o in outs):
            return None
        content = msg["content"]
        ename = str(content.get("ename", "Error"))[:200]
        evalue = str(content.get("evalue", ""))[:self.ERROR_KEEP]
        short = dict(msg, content=dict(content, ename=ename, evalue=evalue, traceback=[
            f"{ename}: {evalue}", "[the traceback was cut by the grader's output limit]"]))
        self._output_total += len(ename) + 2 * len(evalue) + 100
        return short

    def process_message(self, msg, cell, cell_index):
        self._cap_cell = cell_index
        return super().process_message(msg, cell, cell_index)

    def _bad_output(self, outs, cell_index, reason):
        """Record an invalid output and put the placeholder in its place (once per cell
        and reason)."""
        self._bad_event(cell_index, reason)
        placeholder = placeholder_output(reason)
        if not any(o == placeholder for o in outs):
            outs.append(placeholder)

    def output(self, outs, msg, display_id, cell_index):
        if msg.get("msg_type") in _DISPLAY_TYPES + ("stream", "error"):
            reason = output_problem(msg)
            if reason is not None:
                if self._admit(cell_index, 200):
                    self._bad_output(outs, cell_index, reason)
                return None
        try:
            return self._checked_output(outs, msg, display_id, cell_index)
        except Exception as e:  # whatever nbformat or nbclient still refuses: never fatal
            reason = f"it could not be recorded ({type(e).__name__})"
            if self._admit(cell_index, 200):
                self._bad_output(outs, cell_index, reason)
            return None

    def _checked_output(self, outs, msg, display_id, cell_index):
        if not self._admit(cell_index, output_size(msg)):
            if msg["msg_type"] == "error":
                msg = self._short_error(msg, outs)
                if msg is None:
                    return None
            else:
                content = msg["content"]
                if msg["msg_type"] == "stream" and content.get("name") == "stderr":
                    self._dropped_stderr.add(cell_index)
                return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        # An update rewrites every output shown under display_id, in any cell.
        shown = sum(len(v) for v in self._display_id_map.get(display_id, {}).values())
        if shown and not self._admit(self._cap_cell, output_size(msg) * shown):
            return
        reason = output_problem(msg)
        if reason is not None:           # the outputs shown keep what they had
            self._bad_event(self._cap_cell, reason)
            return
        try:
            super()._update_display_id(display_id, msg)
        except Exception as e:
            self._bad_event(self._cap_cell,
                            f"a display update that could not be recorded ({type(e).__name__})")

    def _bad_event(self, cell_index, reason):
        if (cell_index, reason) not in self._bad_seen:
            self._bad_seen.add((cell_index, reason))
            self._event("bad-output", cell_index, reason)

    def handle_comm_msg(self, outs, msg, cell_index):
        size = output_size(msg) + sum(len(b) for b in msg.get("buffers") or [])
        if not self._admit(cell_index, size):
            return
        super().handle_comm_msg(outs, msg, cell_index)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        cell, index = kwargs["cell"], kwargs["cell_index"]
        if index in self._truncated:
            if self._total_hit is not None and index >= self._total_hit:
                why = (f"the notebook's output reached the grader's limit of "
                       f"{self.max_notebook_output_bytes} bytes")
            else:
                why = (f"the grader kept only the first {self.max_output_bytes} bytes of "
                       f"this cell's {self._output_used[index]} bytes of output")
                self._event("output-truncated", index, f"{self._output_used[index]} bytes")
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"\n[{why}]\n"))
        if index in self._dropped_stderr:
            # Without the cap this stderr output would have made a test cell fail.
            cell.outputs.append(NotebookNode(
                output_type="stream", name="stderr",
                text="[output on stderr was cut by the grader's output limit]\n"))

    # ---- talking to the kernel outside of a cell ---------------------------------
    def _run_silently(self, code, timeout):
        """Execute code without recording outputs; the reply, or None on a timeout."""
        async def run():
            msg_id = await ensure_async(
                self.kc.execute(code, silent=True, store_history=False, allow_stdin=False))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(left, 1.0)))
                except Exception:  # queue.Empty: nothing yet
                    if not await ensure_async(self.kc.is_alive()):
                        raise DeadKernelError("Kernel died") from None
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg
        return run_sync(run)()

    def _install_guard(self):
        self._guard_name = "_grader_guard_" + secrets.token_hex(8)
        reply = self._run_silently(GUARD_SETUP % self._guard_name, 60)
        if reply is None or reply["content"]["status"] != "ok":
            detail = "" if reply is None else reply["content"].get("evalue", "")
            self.log.warning("could not install the integrity check: %s", detail)
            self._guard_name = None

    def _install_package_gate(self):
        if self.requirements_file == "none":
            return
        if not hasattr(self, "_gate_code"):
            path = self.requirements_file or requirements_path()
            try:
                self._gate_code = package_gate_code(path)
            except OSError as e:
                self.log.warning("no package gate: %s", e)
                self._gate_code = None
        if self._gate_code is None:
            return
        reply = self._run_silently(self._gate_code, 60)
        if reply is None or reply["content"]["status"] != "ok":
            self.log.warning("could not install the package gate")

    def _guard_changes(self):
        """What the check reports as replaced, [] if nothing; None if it cannot run."""
        if not self._guard_name:
            return None
        expr = f"__import__('sys').modules[{self._guard_name!r}].check()"
        async def ask():
            msg_id = await ensure_async(self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"r": expr}))
            return await self.async_wait_for_reply(msg_id)
        try:
            reply = run_sync(ask)()
        except Exception:
            return None
        if reply is None:
            return None
        result = reply["content"].get("user_expressions", {}).get("r", {})
        if result.get("status") != "ok":
            return ["the grader's own check (it was removed or broken)"]
        try:
            return list(ast.literal_eval(result["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError):
            return ["the grader's own check (it returned something odd)"]

    # ---- recovering from a dead or stuck kernel ----------------------------------
    def _restart(self):
        async def restart():
            await ensure_async(self.km.restart_kernel(now=True))
            await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        run_sync(restart)()
        self._install_guard()
        self._install_package_gate()

    def _restart_within_budget(self):
        """Restart the kernel and count it; False, without restarting, once
        max_restarts restarts have been made."""
        self._restarts += 1
        if self._restarts > self.max_restarts:
            return False
        self._restart()
        return True

    def _recover(self, failed_index):
        """Restart the kernel and re-run the cells before failed_index, except test cells
        and cells that crashed before. False if the restart budget is used up."""
        if not self._restart_within_budget():
            return False
        # Cells re-run to rebuild the state get the limit they had the first time.
        replay_timeout = self.timeout or 300
        for j in range(failed_index):
            cell = self.nb.cells[j]
            if (cell.cell_type != "code" or not cell.source.strip() or j in self._poisoned
                    or is_test_cell(cell)):
                continue
            remaining = self._remaining()
            if remaining is not None and remaining < 10:
                break
            limit = replay_timeout if remaining is None else min(replay_timeout, remaining - 5)
            try:
                reply = self._run_silently(cell.source, limit)
            except DeadKernelError:
                reply = None
            if reply is None:  # the state cannot be rebuilt: carry on with a fresh kernel
                self._poisoned.add(j)
                self._event("replay-failed", j)
                if not self._restart_within_budget():
                    return False
                break
        return True

    # ---- the notebook's results, as data for the trusted grade ---------------------
    def _save_results(self):
        """Run results_code in the kernel (not stored in the notebook). What it writes
        is untrusted data: the grader validates it and recomputes what it judges."""
        if not self.results_file:
            return
        from instructor.boundary.results import results_code
        try:
            reply = self._run_silently(results_code(self.results_file), 120)
        except Exception as e:  # a dead kernel: the results are missing, the checks say so
            self.log.warning("the notebook's results were not saved: %s", e)
            return
        if reply is None or reply["content"].get("status") != "ok":
            self.log.warning("the notebook's results were not saved")

    # ---- the main loop -----------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._cap_reset()
        self._poisoned = set()
        self._restarts, self._gave_up = 0, None

        t_start = time.perf_counter()
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self._install_guard()
            self._install_package_gate()
            t_ready = time.perf_counter()
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if self._gave_up is None:
                    remaining = self._remaining()
                    if remaining is not None and remaining < 5:
                        self._gave_up = ("GraderTimeLimit", "not run: the time limit for the "
                                         "whole notebook was reached before this cell")
                        self._event("deadline", index)
                if self._gave_up is not None:
                    cell.outputs = [error_output(*self._gave_up)]
                    continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except (DeadKernelError, CellTimeoutError) as e:
                    self._poisoned.add(index)
                    if isinstance(e, DeadKernelError):
                        ename = "KernelDied"
                        evalue = ("the Python kernel stopped while running this cell (os._exit(), "
                                  "a crash in compiled code, or the memory limit)")
                        self._event("kernel-died", index)
                    else:
                        ename = "CellTimeoutError"
                        evalue = ("this cell did not finish in time and could not be interrupted")
                        self._event("stuck", index, str(e).splitlines()[0] if str(e) else "")
                    cell.outputs.append(error_output(
                        ename, evalue + "; the grader restarted the kernel and re-ran the "
                        "cells above this one (without the tests)"))
                    if not self._recover(index):
                        self._gave_up = ("KernelDied", "not run: the kernel had to be restarted "
                                         f"more than {self.max_restarts} times")
                    continue
                if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                       for o in cell.outputs):
                    self._event("timeout", index)
                if is_test_cell(cell):
                    changed = self._guard_changes()
                    if changed:
                        cell.outputs.append(error_output(
                            "GraderIntegrityError",
                            "this test ran with replaced functions it relies on: "
                            + ", ".join(sorted(changed)[:10])))
                        self._event("tampering", index, ", ".join(sorted(changed)[:10]))
            t_cells = time.perf_counter()
            self._save_results()
        # Where the time went (for the instructor's log, not a verdict).
        self._event("timing", 0, {"autograde: kernel start": t_ready - t_start,
                                  "autograde: cells": t_cells - t_ready,
                                  "autograde: kernel stop": time.perf_counter() - t_cells})
        self.set_widgets_metadata()
        return self.nb, self.resources
