"""Where a batch's hand-ins are graded: the one seam between the batch and an engine.

An engine is a concurrent.futures executor: the batch calls
executor.submit(grade_one, job, bundle) for each hand-in and writes each
Result as its future completes. Two engines exist:

- local (the default): a thread per running hand-in, each waiting for the
  worker process grade_one starts, --jobs at a time;
- Dask (--scheduler tcp://HOST:PORT, or DASK_SCHEDULER_ADDRESS): the same
  grade_one runs on the workers of an existing cluster (grade/dask_engine.py).
"""
import concurrent.futures


def open_executor(args, bundle):
    """The executor for args (--jobs, --scheduler, --sandbox) and a one-line description
    of where the hand-ins are graded. Raises SetupError if the cluster cannot grade."""
    if getattr(args, "scheduler", None):
        from instructor.grade.dask_engine import DaskExecutor
        executor = DaskExecutor(args.scheduler, bundle, sandbox=args.sandbox)
        return executor, executor.description
    return (concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs),
            f"{args.jobs} at a time")
