"""Execute a notebook headless in a real Jupyter kernel; save it and an HTML report.

    python tools/run_notebook.py softmax.ipynb --out build/run

Writes OUT/<name>.executed.ipynb and OUT/<name>.html (the committed notebook is
left untouched), prints how long each section took, and the accuracies that the
notebook printed on its "Final:" line. Exits non-zero if a cell fails.

The kernel runs with one BLAS thread unless --blas-threads says otherwise. The
notebook's SGD steps multiply a (200, 3073) minibatch by (3073, 10) weights:
a second BLAS thread saves a little on an idle machine, but whenever another
process holds a core, every one of the thousands of small products waits for the
descheduled thread, and training becomes several times slower (see
tools/BENCHMARKS.md). The notebook itself leaves BLAS alone.

The HTML needs no network: its maths is MathML made when it is written and its
figures have alt text (instructor/feedback/offline.py). The kernel's channels
are encrypted (CurveZMQ keys from the kernel manager) wherever pyzmq and the
kernel support it.
"""
import argparse
import os
import re
import sys
import time

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


# What OpenBLAS, MKL, BLIS and OpenMP read for their number of threads.
BLAS_THREAD_VARIABLES = ["OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                         "OMP_NUM_THREADS"]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def transport_encryption():
    """The kernel manager's CurveZMQ policy: "auto" (keys for every kernel that
    declares support, as ipykernel does) where this pyzmq and jupyter_client have
    it, else None (older versions: leave their default)."""
    import zmq
    if "transport_encryption" not in AsyncKernelManager.class_trait_names():
        return None
    return "auto" if zmq.has("curve") else None


def kernel_manager():
    """The kernel manager nbclient starts the notebook's kernel with."""
    km = AsyncKernelManager(kernel_name="python3")
    policy = transport_encryption()
    if policy:
        km.transport_encryption = policy
    return km


def section_times(nb):
    """(title, seconds) per markdown-headed section, from the cells' execution timestamps."""
    from datetime import datetime
    rows, title, total = [], "setup", 0.0
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            if total:
                rows.append((title, total))
            title, total = cell.source.lstrip("# ").splitlines()[0], 0.0
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            t0 = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            total += (t1 - t0).total_seconds()
    if total:
        rows.append((title, total))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--out", default="build/run")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads in the kernel (0: the library's default)")
    args = ap.parse_args()
    if args.blas_threads < 0:
        ap.error("--blas-threads must be >= 0")
    if args.blas_threads:                  # the kernel inherits this environment
        for var in BLAS_THREAD_VARIABLES:
            os.environ[var] = str(args.blas_threads)

    nb = nbformat.read(args.notebook, as_version=4)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.notebook))[0]
    out_nb = os.path.join(args.out, f"{stem}.executed.ipynb")
    client = NotebookClient(nb, km=kernel_manager(), timeout=args.timeout, kernel_name="python3",
                            record_timing=True,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}})
    start = time.perf_counter()
    failed = None
    try:
        client.execute()
    except CellExecutionError as e:
        failed = e
    wall = time.perf_counter() - start
    nbformat.write(nb, out_nb)

    sys.path.insert(0, ROOT)
    from instructor.feedback.offline import notebook_html
    html = notebook_html(nb)
    with open(os.path.join(args.out, f"{stem}.html"), "w", encoding="utf-8") as f:
        f.write(html)

    for title, seconds in section_times(nb):
        print(f"{seconds:7.1f} s  {title}")
    print(f"{wall:7.1f} s  total (kernel start included)")
    print(f"wrote {out_nb} and {os.path.join(args.out, stem + '.html')}")
    if failed is not None:
        print(f"a cell failed:\n{failed}", file=sys.stderr)
        return 1
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")
    m = re.search(r"Final: best validation accuracy ([0-9.]+), test accuracy ([0-9.]+)", text)
    if m:
        print(f"validation accuracy: {m.group(1)}\ntest accuracy: {m.group(2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
