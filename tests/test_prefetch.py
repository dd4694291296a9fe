"""The one-step-ahead background computation behind LinearClassifier.train."""
import threading
import traceback

import pytest

from cs231n import prefetch
from cs231n.prefetch import prefetched


def counter():
    """A function returning 0, 1, 2, ... and the list of threads that called it."""
    calls = []

    def fn():
        calls.append(threading.current_thread())
        return len(calls) - 1
    return fn, calls


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "prefetch"]


@pytest.fixture(params=[2, 1], ids=["threaded", "inline"])
def cpus(request, monkeypatch):
    monkeypatch.setattr(prefetch, "usable_cpus", lambda: request.param)
    return request.param


@pytest.mark.parametrize("count", [0, 1, 7])
def test_yields_each_result_once_in_order(cpus, count):
    fn, calls = counter()
    assert list(prefetched(fn, count)) == list(range(count))
    assert len(calls) == count
    assert len(set(calls)) <= 1, "fn must always be called from the same thread"
    assert not prefetch_threads()


def test_runs_in_the_background_with_two_cpus(cpus):
    # The second call must start while the caller still holds the first result.
    second_call = threading.Event()
    calls = []

    def fn():
        calls.append(threading.current_thread())
        if len(calls) == 2:
            second_call.set()
        return len(calls)

    gen = prefetched(fn, 3)
    assert next(gen) == 1
    if cpus == 2:
        assert second_call.wait(timeout=10), "the next call did not start in the background"
    else:
        assert not second_call.is_set(), "inline, the next call waits for the next step"
    assert list(gen) == [2, 3]
    assert (calls[0] is threading.main_thread()) == (cpus == 1)


def test_an_error_in_fn_is_raised_at_its_step_with_its_traceback(cpus):
    def fn():
        fn.n += 1
        if fn.n == 3:
            raise KeyError("third call")
        return fn.n
    fn.n = 0
    got = []
    with pytest.raises(KeyError, match="third call") as info:
        for value in prefetched(fn, 5):
            got.append(value)
    assert got == [1, 2]
    assert fn.n == 3, "no call may follow a failed one"
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "fn" in frames, "the traceback must show where fn failed"
    assert not prefetch_threads()


@pytest.mark.parametrize("how", ["break", "exception"])
def test_stopping_early_ends_the_worker(cpus, how):
    fn, calls = counter()
    gen = prefetched(fn, 1000)
    try:
        for value in gen:
            if value == 2:
                if how == "break":
                    break
                raise RuntimeError("the caller failed")
    except RuntimeError:
        pass
    gen.close()
    assert not prefetch_threads()
    assert len(calls) <= 4, "at most one result may be computed ahead"


def test_usable_cpus_is_positive():
    assert prefetch.usable_cpus() >= 1
