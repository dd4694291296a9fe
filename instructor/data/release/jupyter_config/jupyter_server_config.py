"""Settings for the Jupyter server started with JUPYTER_CONFIG_PATH=jupyter_config.

The notebook's kernel gets one BLAS thread, as the grader and Validate give it:
the training loop's thousands of small matrix products crawl on two threads
whenever another program holds a core. Kernels inherit the server's
environment, so the thread count is set there; a value exported before
starting Jupyter is kept. The kernels' channels are encrypted where pyzmq can
(no "Kernel is running over TCP without encryption" warning).
"""
import os

import zmq

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

# What OpenBLAS, MKL, BLIS and OpenMP read for their number of threads.
for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(name, "1")

if zmq.has("curve"):
    # CurveZMQ keys from the server's kernel manager, for kernels that support them.
    c.MappingKernelManager.transport_encryption = "auto"
