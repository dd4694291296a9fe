"""nbgrader settings of the softmax assignment, shared by the release build and the grader.

`python -m instructor release` runs `nbgrader generate_assignment` with this
file; the grader (grade/one.py) loads it and adds the settings that depend on
the run (time limits from the command line, the sandboxed kernel, the feedback
filter). `autograde` copies it into its output folder, so that nbgrader's
Formgrader (Jupyter started there) can be used for the manually graded answers.
Students get their own, data/release/nbgrader_config.py, with the same limits.
"""
c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

# The stub that replaces a solution region in the notebook: it says what is not
# written yet and where. The package's .py files get the same form naming their
# function (markers.stub_lines); the release build checks that the two agree.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\n"
                                        "raise NotImplementedError(\"this cell is not written yet: \"\n"
                                        "                          \"fill in its TODO in softmax.ipynb\")"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# nbgrader autograde replaces every non-notebook file of a hand-in with the
# instructor's copy from the source folder. Students edit these two files, so
# their own versions must be graded. (The grader checks that this list names
# exactly the files with solution regions.)
c.Autograde.exclude_overwriting = {
    "softmax": [
        "cs231n/classifiers/softmax.py",
        "cs231n/classifiers/linear_classifier.py",
    ],
}

# nbgrader's default of 30 s per cell is too short: the student's hyperparameter
# sweep trains one classifier per setting on CIFAR-10, one after another.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# Time for a cell's last outputs to arrive after it finished; a cell that
# printed a lot needs more than nbgrader's 4 s.
c.Execute.iopub_timeout = 30

# nbgrader fails a test cell with any stderr output. The grader's points come from
# its own checks, but students' Validate runs on these settings (the release's
# copy must match): Python warnings raised by library code are not the student's
# doing, so a stderr output made only of warnings (the "file:line: XWarning:
# message" line and the indented source line after it) is dropped.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"\A(?:[^\n]*:\d+: [A-Za-z]*Warning: [^\n]*(?:\n|\Z)(?:[ \t]+[^\n]*(?:\n|\Z))*)+\Z")
