"""The no-loops check reads what the vectorized loss runs: variants that loop, and variants
that do not (or loop over something of fixed length). Pure static analysis: fast tier."""
import textwrap

import pytest

from instructor.checks import hidden, loops
from cs231n.checks import CheckFailed

SOFTMAX = "cs231n/classifiers/softmax.py"
CLASSIFIER = "cs231n/classifiers/linear_classifier.py"
NAME = "softmax_loss_vectorized"

HEADER = "import numpy as np\n\n"
NAIVE = '''
def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(X.shape[0]):
        loss += X[i].sum()
    return loss, dW
'''
class Raw(str):
    """A part that src() keeps as it is (a function body, indented)."""


VECTOR_BODY = Raw('''
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y]).mean() + reg * np.sum(W * W)
    p[np.arange(len(y)), y] -= 1
    dW = X.T @ p / len(y) + 2 * reg * W
    return loss, dW
''')
GOOD = "\ndef softmax_loss_vectorized(W, X, y, reg):" + VECTOR_BODY


def src(*parts):
    return HEADER + NAIVE + "".join(p if isinstance(p, Raw) else textwrap.dedent(p)
                                    for p in parts)


# name -> (softmax.py text, {other file: text}, the finding's kind or None, its line's text)
LOOPING = {
    "for_over_rows": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            for i in range(X.shape[0]):
                pass
        ''' ), {}, "a for loop", "for i in range(X.shape[0]):"),
    "while_loop": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            i = 0
            while i < len(y):
                i += 1
        '''), {}, "a while loop", "while i < len(y):"),
    "calls_naive": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            return softmax_loss_naive(W, X, y, reg)
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "rebound_after_def": (src(GOOD, '''
        softmax_loss_vectorized = softmax_loss_naive
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "rebound_by_partial": (src(GOOD, '''
        import functools
        softmax_loss_vectorized = functools.partial(softmax_loss_naive)
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "rebound_under_if": (src(GOOD, '''
        if True:
            softmax_loss_vectorized = softmax_loss_naive
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "rebound_by_globals": (src(GOOD, '''
        globals()["softmax_loss_vectorized"] = softmax_loss_naive
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "decorator_swaps": (src('''
        def use_naive(f):
            return softmax_loss_naive

        @use_naive''', GOOD), {}, "a for loop", "for i in range(X.shape[0]):"),
    "decorator_loops": (src('''
        def per_example(f):
            def wrapper(W, X, y, reg):
                out = [f(W, X[i:i + 1], y[i:i + 1], reg) for i in range(len(y))]
                return out[0]
            return wrapper

        @per_example''', GOOD), {}, "a list comprehension", "out = [f(W, X[i:i + 1]"),
    "map_over_examples": (src('''
        def one(args):
            return args
        def softmax_loss_vectorized(W, X, y, reg):
            losses = list(map(one, zip(X, y)))
            return sum(losses), W
        '''), {}, "map()", "losses = list(map(one, zip(X, y)))"),
    "np_vectorize": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            f = np.vectorize(lambda v: v * 2)
            return f(X).sum(), W
        '''), {}, "np.vectorize", "f = np.vectorize(lambda v: v * 2)"),
    "vectorize_imported": (src('''
        from numpy import vectorize as vec
        def softmax_loss_vectorized(W, X, y, reg):
            return vec(float)(X).sum(), W
        '''), {}, "np.vectorize", "return vec(float)(X).sum(), W"),
    "vectorize_binding": (src('''
        softmax_loss_vectorized = np.vectorize(softmax_loss_naive, otypes=[float])
        '''), {}, "np.vectorize", "softmax_loss_vectorized = np.vectorize("),
    "apply_along_axis": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            rows = np.apply_along_axis(lambda r: r @ W, 1, X)
            return rows.sum(), W
        '''), {}, "np.apply_along_axis", "rows = np.apply_along_axis("),
    "comprehension_over_examples": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            losses = [X[i] @ W for i in range(len(y))]
            return sum(losses), W
        '''), {}, "a list comprehension", "losses = [X[i] @ W for i in range(len(y))]"),
    "generator_in_sum": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            return sum(x @ W for x in X), W
        '''), {}, "a generator expression", "return sum(x @ W for x in X), W"),
    "helper_loops": (src('''
        def _row_losses(S, y):
            out = np.empty(len(y))
            for i, row in enumerate(S):
                out[i] = row[y[i]]
            return out
        def softmax_loss_vectorized(W, X, y, reg):
            return _row_losses(X @ W, y).mean(), W
        '''), {}, "a for loop", "for i, row in enumerate(S):"),
    "helper_of_helper": (src('''
        def _inner(S):
            return [s for s in S]
        def _outer(S):
            return _inner(S)
        def softmax_loss_vectorized(W, X, y, reg):
            return _outer(X @ W), W
        '''), {}, "a list comprehension", "return [s for s in S]"),
    "recursion": (src('''
        def _total(X, i=0):
            return 0 if i == len(X) else X[i].sum() + _total(X, i + 1)
        def softmax_loss_vectorized(W, X, y, reg):
            return _total(X), W
        '''), {}, "recursion (a function that calls itself again)", "def _total(X, i=0):"),
    "lambda_binding": (src('''
        softmax_loss_vectorized = lambda W, X, y, reg: softmax_loss_naive(W, X, y, reg)
        '''), {}, "a for loop", "for i in range(X.shape[0]):"),
    "callable_class": (src('''
        class _Loss:
            def __call__(self, W, X, y, reg):
                return self.each(W, X, y, reg)
            def each(self, W, X, y, reg):
                for row in X:
                    pass
        softmax_loss_vectorized = _Loss()
        '''), {}, "a for loop", "for row in X:"),
    "reduce": (src('''
        import functools
        def softmax_loss_vectorized(W, X, y, reg):
            return functools.reduce(lambda a, b: a + b, X), W
        '''), {}, "functools.reduce", "return functools.reduce("),
    "exec_string": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            exec("for i in range(len(y)): pass")
            return 0.0, W
        '''), {}, "code run from a string (exec())", 'exec("for i in range(len(y)): pass")'),
    "helper_in_other_file": (src('''
        from .linear_classifier import per_row
        def softmax_loss_vectorized(W, X, y, reg):
            return per_row(X), W
        '''), {CLASSIFIER: "def per_row(X):\n    return [x for x in X]\n"},
        "a list comprehension", "return [x for x in X]"),
    "monkeypatched_from_other_file": (src(GOOD), {CLASSIFIER: textwrap.dedent('''
        from . import softmax
        softmax.softmax_loss_vectorized = softmax.softmax_loss_naive
        ''')}, "a for loop", "for i in range(X.shape[0]):"),
    "setattr_from_other_file": (src(GOOD), {CLASSIFIER: textwrap.dedent('''
        import cs231n.classifiers.softmax as s
        setattr(s, "softmax_loss_vectorized", s.softmax_loss_naive)
        ''')}, "a for loop", "for i in range(X.shape[0]):"),
    "star_import_helper": (src('''
        from cs231n.classifiers.linear_classifier import *
        def softmax_loss_vectorized(W, X, y, reg):
            return helper(X), W
        '''), {CLASSIFIER: "def helper(X):\n    while True:\n        return X\n"},
        "a while loop", "while True:"),
    "loop_over_shape_variable": (src('''
        def softmax_loss_vectorized(W, X, y, reg):
            N = X.shape[0]
            for i in range(N):
                pass
            return 0.0, W
        '''), {}, "a for loop", "for i in range(N):"),
}

NO_LOOPS = {
    "solution_shape": src(GOOD),
    "all_over_arguments": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            assert all(np.all(np.isfinite(a)) for a in (W, X))''', VECTOR_BODY),
    "loop_over_fixed_tuple": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            for name, a in (("W", W), ("X", X)):
                assert a.ndim == 2, name''', VECTOR_BODY),
    "range_of_literal": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            for _ in range(2):
                pass''', VECTOR_BODY),
    "map_over_arguments": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            W, X = map(np.asarray, (W, X))''', VECTOR_BODY),
    "dict_literal_items": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            for k, v in {"W": W, "X": X}.items():
                assert v.ndim == 2, k''', VECTOR_BODY),
    "varargs": src('''
        def _finite(*arrays):
            return all(np.isfinite(a).all() for a in arrays)
        def softmax_loss_vectorized(W, X, y, reg):
            assert _finite(W, X)''', VECTOR_BODY),
    "redefined_without_loops": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            for i in range(len(y)):
                pass
        ''', GOOD),
    "rebound_to_vectorized_helper": src('''
        def _loss(W, X, y, reg):''', VECTOR_BODY, '''
        softmax_loss_vectorized = _loss
        '''),
    "helpers_without_loops": src('''
        def _stable(S):
            return S - S.max(axis=1, keepdims=True)
        def _probs(S):
            e = np.exp(_stable(S))
            return e / e.sum(axis=1, keepdims=True)
        def softmax_loss_vectorized(W, X, y, reg):
            P = _probs(X @ W)
            return -np.log(P[np.arange(len(y)), y]).mean(), X.T @ P
        '''),
    "local_name_shadows_naive": src('''
        def softmax_loss_vectorized(W, X, y, reg):
            softmax_loss_naive = X @ W
            return softmax_loss_naive.sum(), W
        '''),
    "decorator_from_library": src('''
        import functools
        def _checked(f):
            @functools.wraps(f)
            def wrapper(*args):
                assert all(np.isfinite(a).all() for a in args[:2])
                return f(*args)
            return wrapper

        @_checked''', GOOD),
    "einsum_and_logsumexp": src('''
        from scipy.special import logsumexp
        def softmax_loss_vectorized(W, X, y, reg):
            S = np.einsum("nd,dc->nc", X, W)
            L = logsumexp(S, axis=1)
            return (L - S[np.arange(len(y)), y]).mean(), W
        '''),
    "naive_loops_elsewhere_in_file": src(GOOD, '''
        def unrelated():
            return [softmax_loss_naive(*a) for a in range(10 ** 6)]
        '''),
    "loop_at_import_time": src('''
        TABLE = [i * i for i in range(1000)]
        def softmax_loss_vectorized(W, X, y, reg):''', VECTOR_BODY),
}


def sources(text, others=None):
    files = {SOFTMAX: text, CLASSIFIER: "class LinearClassifier:\n    pass\n"}
    files.update(others or {})
    return files


def test_every_variant_parses():
    for text, others, _, _ in LOOPING.values():
        for t in [text, *others.values()]:
            compile(t, "<variant>", "exec")
    for text in NO_LOOPS.values():
        compile(text, "<variant>", "exec")


@pytest.mark.parametrize("case", sorted(LOOPING))
def test_a_loop_is_found_where_it_is(case):
    text, others, kind, line_text = LOOPING[case]
    files = sources(text, others)
    found = loops.find_loops(files, SOFTMAX, NAME)
    assert found, case
    first = found[0]
    assert first.what == kind
    lines = files[first.file].splitlines()
    assert line_text in lines[first.line - 1], (first, lines[first.line - 1])
    message = loops.describe(found, NAME)
    assert f"line {first.line} of {first.file}" in message
    assert kind in message


@pytest.mark.parametrize("case", sorted(NO_LOOPS))
def test_no_false_alarm(case):
    assert loops.find_loops(sources(NO_LOOPS[case]), SOFTMAX, NAME) == []


def test_the_message_names_the_function_that_loops():
    text, others, _, _ = LOOPING["calls_naive"]
    message = loops.describe(loops.find_loops(sources(text), SOFTMAX, NAME), NAME)
    assert "softmax_loss_naive" in message and "compute all examples at once" in message.lower()


@pytest.mark.parametrize("files, reason", [
    ({CLASSIFIER: "x = 1\n"}, "missing"),
    ({SOFTMAX: "def softmax_loss_vectorized(:\n"}, "not valid Python"),
    ({SOFTMAX: "def other():\n    pass\n"}, "defines no softmax_loss_vectorized"),
])
def test_not_found_says_why(files, reason):
    with pytest.raises(loops.NotFound, match=reason):
        loops.find_loops(files, SOFTMAX, NAME)


class _Subject:
    def __init__(self, files):
        self.sources = files


@pytest.mark.parametrize("case", ["calls_naive", "decorator_swaps", "map_over_examples"])
def test_the_hidden_check_fails_with_file_and_line(case):
    text, others, _, _ = LOOPING[case]
    with pytest.raises(CheckFailed) as info:
        hidden.vectorized_has_no_loops(_Subject(sources(text, others)))
    assert info.value.mistake == "loops"
    assert "line " in str(info.value) and SOFTMAX in str(info.value)


@pytest.mark.parametrize("case", ["all_over_arguments", "loop_over_fixed_tuple"])
def test_the_hidden_check_passes_fixed_length_loops(case):
    assert hidden.vectorized_has_no_loops(_Subject(sources(NO_LOOPS[case]))) is None


def test_the_solution_passes_and_its_naive_loss_does_not():
    from instructor.assignment import REPO_ROOT, package_sources
    files = package_sources(REPO_ROOT)
    assert loops.find_loops(files, SOFTMAX, NAME) == []
    assert loops.find_loops(files, SOFTMAX, "softmax_loss_naive")


def test_a_chain_of_helpers_too_long_to_follow_is_not_taken_as_vectorized():
    chain = "".join(f"def h{i}(X):\n    return h{i + 1}(X)\n" for i in range(3000))
    text = src(chain, "def h3000(X):\n    return X\n", """
        def softmax_loss_vectorized(W, X, y, reg):
            return h0(X).sum(), W
        """)
    found = loops.find_loops(sources(text), SOFTMAX, NAME)
    assert found and "too deeply" in found[-1].what
    assert "too deeply" in loops.describe(found, NAME)


def test_many_module_level_names_are_read_once():
    body = "".join(f"def f{i}(W):\n    return W\nf{i}.tag = {i}\n" for i in range(2000))
    text = src(body, """
        def softmax_loss_vectorized(W, X, y, reg):
            return sum(f(W) for f in (f0, f1)), W
        """)
    assert loops.find_loops(sources(text), SOFTMAX, NAME) == []
