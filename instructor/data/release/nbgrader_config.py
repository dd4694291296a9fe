"""nbgrader settings for students: nbgrader's Validate button and `nbgrader validate`.

Run from this folder (Jupyter started here, or `nbgrader validate softmax.ipynb`),
nbgrader reads this file, so a student's own check allows what the grader
allows: the grader's limit of 300 s per cell instead of nbgrader's 30 s (the
hyperparameter search trains many classifiers), and warnings printed by library
code do not fail a test. The release build checks that these values are the
grader's.

It also gives the notebook's kernel one BLAS thread, as the grader and
`make run` do: the training loop's thousands of small matrix products crawl on
two threads whenever another program holds a core (a shared JupyterHub
server, a laptop compiling something). nbgrader starts the kernel with its own
environment, so the thread count is set there; a value you export yourself
(OPENBLAS_NUM_THREADS=4 nbgrader validate ...) is kept. And it encrypts the
kernel's channels where pyzmq can (no "Kernel is running over TCP without
encryption" warning).
"""
import os

import zmq

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

# What OpenBLAS, MKL, BLIS and OpenMP read for their number of threads.
for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(name, "1")

if zmq.has("curve"):
    # CurveZMQ keys from the kernel manager, for kernels that support them (ipykernel does).
    c.KernelManager.transport_encryption = "auto"

c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.Execute.iopub_timeout = 30

c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"\A(?:[^\n]*:\d+: [A-Za-z]*Warning: [^\n]*(?:\n|\Z)(?:[ \t]+[^\n]*(?:\n|\Z))*)+\Z")
