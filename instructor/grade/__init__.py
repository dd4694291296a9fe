"""Stage 3: grading: the job/result contract (job.py), the assignment bundle made
once per batch (bundle.py), one hand-in (one.py), nbgrader's execution step
hardened (execute.py), the executors (executor.py) and the batch (batch.py)."""
