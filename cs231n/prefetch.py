"""Compute the next item of a sequence while the caller works on the current one.

LinearClassifier.train uses this for its minibatches. Gathering 200 random rows
of the training matrix reads them from main memory, which costs about a third of
the step's matrix products; a second thread does it during the previous step, on
the other core, so the training loop only waits when there is no core to spare.

    for X_batch, y_batch in prefetched(lambda: sample(...), num_iters):
        ...

NumPy releases the GIL while it copies rows, so the two threads do run at once.
"""
import os
import threading


def prefetched(fn, count):
    """
    Yield fn() count times, computing each result one step ahead in a background
    thread.

    Inputs:
    - fn: a function of no arguments. Calls are made one at a time, in order, from
      a single thread, so fn may use state such as a random generator.
    - count: how many results to yield.

    An exception raised by fn is raised here, in the caller's thread, at the
    step where its result would have been yielded. If the caller stops early
    (break, an exception, KeyboardInterrupt), the background thread finishes its
    current call and ends; no further calls are made.

    With a single usable CPU, fn is called inline, one call per step.
    """
    if count <= 0:
        return
    if usable_cpus() < 2:
        for _ in range(count):
            yield fn()
        return

    # One slot, handed back and forth: the worker fills it while the caller
    # uses the previous result, so at most one result is computed ahead.
    slot = [None]
    filled = threading.Semaphore(0)   # released by the worker: slot holds a result
    emptied = threading.Semaphore(1)  # released by the caller: compute the next one
    stop = threading.Event()

    def work():
        for _ in range(count):
            emptied.acquire()
            if stop.is_set():
                return
            try:
                slot[0] = (True, fn())
            except BaseException as e:  # handed to the caller, raised there
                slot[0] = (False, e)
                filled.release()
                return
            filled.release()

    worker = threading.Thread(target=work, name="prefetch", daemon=True)
    worker.start()
    try:
        for _ in range(count):
            filled.acquire()
            ok, value = slot[0]
            slot[0] = None
            if not ok:
                raise value
            emptied.release()
            yield value
            value = None  # drop the caller's item before the next wait
    finally:
        stop.set()
        emptied.release()  # wake the worker if it waits, so that it sees stop
        worker.join()


def usable_cpus():
    """How many CPUs this process may run on (its affinity mask, where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
