"""Stage 3: grading: the job/result contract (job.py), the assignment bundle made
once per batch (bundle.py), one hand-in (one.py), nbgrader's execution step
hardened (execute.py), the executors (engines.py: local, or Dask in
dask_engine.py) and the batch (batch.py)."""
