"""The trusted boundary: student code runs only in a sandboxed worker process that
the grader talks to with data-only messages.

- protocol.py: the message format (a small JSON header plus .npy arrays, no pickle);
- worker.py:   the process that imports the student's package and answers;
- gate.py:     the package gate (only the requirements' packages are importable),
               installed in the worker and, as source, in the notebook's kernel;
- client.py:   the trusted side: starts the worker, validates answers, and offers
               proxies with the same calling contract as the student's functions;
- results.py:  notebook-level results saved in the student's kernel as plain data,
               loaded and validated on the trusted side;
- jail.py:     the bubblewrap allow-list sandbox with limits on totals.

Only protocol.py, worker.py and gate.py (client.WORKER_FILES) are ever shown to a
sandboxed process; they import nothing else from this package.
"""
