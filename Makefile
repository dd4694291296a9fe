# make run        set up .venv, get CIFAR-10, execute softmax.ipynb headless, print accuracies
# make test       the fast tier of the test suite: unit tests and one end-to-end grade
#                 (no network, no data set needed)
# make test-all   every test, slow batches, jail, cluster and browser tests included (CI)
# make release    build the student release into dist/softmax/ and dist/softmax.zip
# make autograde SUBMISSIONS=<dir of zips> [OUT=build/grading] [AUTOGRADE_FLAGS=...]
# make gradescope the Gradescope autograder: dist/gradescope/autograder.zip [GRADESCOPE_FLAGS=...]
#                 (all three: python -m instructor COMMAND; python -m instructor --help lists them)
# make bench      benchmark the solution on the real data set
#
# CIFAR10_DIR (environment) points at a cifar-10-batches-py folder elsewhere.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= build/grading

.PHONY: setup data run test test-all release autograde gradescope bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	# The project itself, editable: `python -m instructor` and `dask worker` find it from any folder.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	touch $@

setup: $(VENV)/.installed

data:
	./get_datasets.sh

run: setup data
	$(PY) tools/run_notebook.py softmax.ipynb --out build/run

test: setup
	$(PY) -m pytest tests -m "not slow" $(PYTEST_FLAGS)

test-all: setup
	$(PY) -m pytest tests $(PYTEST_FLAGS)

release: setup
	$(PY) -m instructor release --out dist

autograde: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=<dir of zips> [OUT=$(OUT)]" >&2; exit 2; }
	$(PY) -m instructor autograde "$(SUBMISSIONS)" --out "$(OUT)" $(AUTOGRADE_FLAGS)

gradescope: setup
	$(PY) -m instructor gradescope --out dist/gradescope $(GRADESCOPE_FLAGS)

bench: setup data
	$(PY) -m tools.bench

clean:
	rm -rf build dist
