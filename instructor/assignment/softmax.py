"""The spec of this repository's assignment: a softmax classifier on CIFAR-10.

The one place that says what the student writes, what the grader reads from the
notebook, and how many points each test cell is worth under which checks and
bars. The notebook's test cells (their nbgrader points) and the README are
tested against it; the grader's layers read it and name none of this.
"""
import os

from .model import (AssignmentSpec, Cell, Check, DataSet, GivenCodeRule, Klass, Mistakes,
                    NotebookValue, Routine)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SOFTMAX_FILE = "cs231n/classifiers/softmax.py"
CLASSIFIER_FILE = "cs231n/classifiers/linear_classifier.py"
SUITE = "instructor.checks.suite"
HIDDEN = "instructor.checks.hidden"


def _visible(name):
    return Check(f"{SUITE}:{name}")


def _hidden(name):
    return Check(f"{HIDDEN}:{name}", hidden=True)


SPEC = AssignmentSpec(
    assignment_id="softmax",
    notebook="softmax.ipynb",
    package="cs231n",
    root=ROOT,
    student_files=(SOFTMAX_FILE, CLASSIFIER_FILE),
    collect_script="collectSubmission.sh",
    check_data="cs231n/check_data.json",
    # Role (the name the checks use) -> what the student writes.
    routines={
        "loss_naive": Routine("cs231n.classifiers.softmax", "softmax_loss_naive",
                              SOFTMAX_FILE, contract="cs231n.contract:loss_and_gradient"),
        "loss_vectorized": Routine("cs231n.classifiers.softmax", "softmax_loss_vectorized",
                                   SOFTMAX_FILE, contract="cs231n.contract:loss_and_gradient"),
        "make_classifier": Klass("cs231n.classifiers.linear_classifier", "Softmax",
                                 CLASSIFIER_FILE, state=("W",),
                                 methods=("train", "predict", "sample_batch"),
                                 contracts=(("train", "cs231n.contract:loss_history"),
                                            ("predict", "cs231n.contract:labels"),
                                            ("sample_batch", "cs231n.contract:minibatch"))),
    },
    # What the grader reads from the notebook after its run (boundary/results.py).
    values=(
        NotebookValue("best_val", "best_val", "fraction"),
        NotebookValue("test_accuracy", "test_accuracy", "fraction"),
        NotebookValue("loss_hist", "loss_hist", "history"),
        NotebookValue("softmax_W", "softmax", "weights", attribute="W"),
        NotebookValue("best_W", "best_softmax", "weights", attribute="W"),
        NotebookValue("y_test_pred", "y_test_pred", "labels"),
        NotebookValue("results", "results", "pairs"),
    ),
    # The auto-graded cells in notebook order: points, checks (visible, then hidden), bars.
    cells=(
        Cell("test_naive_loss", 3, (_visible("naive_loss"),
                                    _hidden("naive_loss_hidden_problems"))),
        Cell("test_naive_grad", 3, (_visible("naive_grad"),
                                    _hidden("naive_grad_hidden_problem"))),
        Cell("test_vectorized", 4, (_visible("vectorized_loss"),
                                    _hidden("vectorized_hidden_problems"),
                                    _hidden("vectorized_has_no_loops"))),
        Cell("test_sgd", 3, (_visible("sgd_sample_batch"), _visible("sgd_train"),
                             _visible("sgd_predict"),
                             _hidden("sample_batch_keeps_rows_and_uses_rng"),
                             _hidden("sgd_fits_an_easy_problem"),
                             _hidden("predict_picks_the_top_score"))),
        Cell("test_sweep", 3, (_visible("sweep_visible"), _hidden("sweep_reaches_the_bar")),
             # sweep_bar: calibrated so that every sensible 2x2 sweep passes (the lowest
             # measured best-of-four is 0.352 on the stand-in data; tools/BENCHMARKS.md).
             bars=(("min_settings", 4), ("visible_sweep_bar", 0.34), ("sweep_bar", 0.34),
                   # Beyond what a linear model reaches on CIFAR-10: flagged, not awarded
                   # (judged on a validation set of the official size, 1000 images).
                   ("max_plausible_val", 0.45), ("plausible_min_rows", 1000),
                   # The notebook's training of each setting, repeated by the grader with
                   # the student's own classifier: its W must be best_softmax.W.
                   ("retrain_seed", 0), ("retrain_iters", 1500), ("retrain_batch", 200),
                   ("retrain_rtol", 1e-3))),
        Cell("test_accuracy", 1, (_visible("test_accuracy_visible"),),
             bars=(("test_bar", 0.33), ("max_test_over_val", 0.08))),
    ),
    # A cell fails along with the cells it needs (for knock-on notes).
    depends=(("test_naive_grad", ("test_naive_loss",)),
             ("test_sgd", ("test_vectorized",)),
             ("test_sweep", ("test_sgd",)),
             ("test_accuracy", ("test_sweep",))),
    mistakes=Mistakes(implementations="instructor.checks.mistakes",
                      catalogue="cs231n.checks:MISTAKES"),
    data="instructor.checks.suite:load_trusted_data",
    # CIFAR-10: cs231n/data_utils.py and get_datasets.sh find it by CIFAR10_DIR, else in
    # datasets/cifar-10-batches-py; get_datasets.sh downloads it there, md5-checked.
    dataset=DataSet(locate="instructor.assignment.softmax:cifar10_folder", env="CIFAR10_DIR",
                    fetch="get_datasets.sh"),
    nbgrader_config="instructor/data/nbgrader_config.py",
    # Files copied into the release as they are.
    release_extras=("get_datasets.sh", "requirements.txt", "collectSubmission.sh",
                    "datasets/README.md", "datasets/.gitignore"),
    # Every file in here is copied into the release's root as it is (the students'
    # README.md, their nbgrader_config.py, Jupyter settings).
    release_data="instructor/data/release",
    # Instructor-only code of the checks (mistakes, fingerprint generator, hidden
    # checks): none of its distinctive lines may reach a release.
    secret_code=("instructor/checks",),
    # The fingerprint generator and the known mistakes import the solution: a grader
    # shipped without it (the Gradescope zip) leaves them out, and draws its hidden
    # problems from a pool computed now instead.
    solution_bound=("instructor/checks/fingerprints.py", "instructor/checks/mistakes.py"),
    hidden_pool="instructor.checks.hidden:pool_files",
    # The exercise is the softmax loss and its gradient: a given file that computes an
    # exponential or a (log-)softmax, say a batched trainer written for speed, would
    # hold the answer in plain sight. "softmax" is also a module of the package.
    given_code=GivenCodeRule(
        what="an exponential or a (log-)softmax",
        names=("exp", "expm1", "exp2", "logaddexp", "logaddexp2", "logsumexp", "log_softmax"),
        call_only=("softmax",), powers_of=("e",)),
)


CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar10_folder():
    """(the CIFAR-10 folder the notebook reads, None or why it cannot be used)."""
    from cs231n.data_utils import dataset_dir
    folder = os.path.abspath(dataset_dir())
    absent = [n for n in CIFAR10_FILES if not os.path.isfile(os.path.join(folder, n))]
    if absent:
        more = ", ..." if len(absent) > 3 else ""
        return folder, (f"CIFAR-10 not found in {folder} (missing {', '.join(absent[:3])}"
                        f"{more}): run ./get_datasets.sh, or set CIFAR10_DIR to a "
                        "cifar-10-batches-py folder")
    return folder, None
