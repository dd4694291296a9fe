#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image
# (Ubuntu 22.04 by default), with the autograder zip unpacked in /autograder/source.
#
# It installs
#   - Python @PYTHON_VERSION@ next to the system's python3 (which Gradescope's own
#     harness uses and which stays as it is): from the image if it has it, else
#     from the deadsnakes PPA for Ubuntu;
#   - a virtual environment in @GRADER_HOME@/venv with the assignment's
#     requirements (numpy, matplotlib, Jupyter, nbgrader);
#   - bubblewrap, which isolates each student's kernel where the container allows it;
#   - CIFAR-10, downloaded and md5-checked by get_datasets.sh, into
#     /autograder/source/datasets/cifar-10-batches-py.
set -euo pipefail

PYTHON_VERSION="@PYTHON_VERSION@"
GRADER_HOME="@GRADER_HOME@"
CIFAR10_MD5="@CIFAR10_MD5@"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="python$PYTHON_VERSION"
export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get install -y --no-install-recommends bubblewrap ca-certificates curl

if ! command -v "$PY" >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends software-properties-common gpg-agent
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
fi
apt-get install -y --no-install-recommends "$PY" "$PY-venv"

mkdir -p "$GRADER_HOME"
"$PY" -m venv "$GRADER_HOME/venv"
"$GRADER_HOME/venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip
"$GRADER_HOME/venv/bin/python" -m pip install --disable-pip-version-check -r "$SOURCE/requirements.txt"

# The data set, checked against the official archive's md5 before it is unpacked.
CIFAR10_MD5="$CIFAR10_MD5" CIFAR10_DIR="$SOURCE/datasets/cifar-10-batches-py" \
    "$SOURCE/get_datasets.sh"

chmod +x "$SOURCE/run_autograder"
# Fail the image build now, not at the first submission, if something is missing.
"$GRADER_HOME/venv/bin/python" -c "import nbgrader, nbformat, numpy, matplotlib"
(cd "$SOURCE" && "$GRADER_HOME/venv/bin/python" -c "import instructor.gradescope.run")
# Which isolation tier grading will use in this container (the strongest that runs):
# namespaces (bubblewrap) where the container allows it, else uid (a dedicated uid,
# the autograder's files unreadable to it, no network). None working fails the build.
(cd "$SOURCE" && "$GRADER_HOME/venv/bin/python" - <<'PROBE'
import json, sys
from instructor.sandbox.box import TIERS, choose_tier, probe, SandboxError
for tier in TIERS[:-1]:
    ok, why = probe(tier)
    print(f"setup.sh: sandbox tier {tier}: {'works' if ok else 'not here: ' + why}")
wanted = json.load(open("autograder.json")).get("sandbox", "auto")
try:
    print(f"setup.sh: grading will use sandbox: {choose_tier(wanted)}")
except SandboxError as e:
    sys.exit(f"setup.sh: {e}")
PROBE
)
echo "setup.sh: done (python: $GRADER_HOME/venv/bin/python; bwrap: $(command -v bwrap))"
