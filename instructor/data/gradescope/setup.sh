#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image
# (Ubuntu 22.04 by default), with the autograder zip unpacked in /autograder/source.
#
# It installs
#   - Python @PYTHON_VERSION@ next to the system's python3 (which Gradescope's own
#     harness uses and which stays as it is): from the image if it has it, else
#     from the deadsnakes PPA for Ubuntu;
#   - a virtual environment in @GRADER_HOME@/venv with the grader's requirements
#     (requirements.txt: numpy, Jupyter, nbgrader, ...);
#   - bubblewrap, which isolates each student's kernel where the container allows it;
#   - the assignment's data set, if its notebook reads one: the script its spec names
#     (DataSet.fetch) downloads and checks it, run in the assignment's folder of the
#     zip, where the grader looks for it.
# Then it asks the grader whether it can grade (the spec, its checks, the data set)
# and which isolation tier it will use; any problem fails the build, not a submission.
set -euo pipefail

PYTHON_VERSION="@PYTHON_VERSION@"
GRADER_HOME="@GRADER_HOME@"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The assignment's folder in the zip: empty for the grader's own assignment (at the
# zip's root); for an assignment folder from elsewhere, the folder with its spec,
# which the grader loads through ASSIGNMENT_DIR (an inherited value never counts).
ASSIGNMENT_FOLDER="@ASSIGNMENT_FOLDER@"
ASSIGNMENT_ROOT="$SOURCE${ASSIGNMENT_FOLDER:+/$ASSIGNMENT_FOLDER}"
if [[ -n "$ASSIGNMENT_FOLDER" ]]; then
    export ASSIGNMENT_DIR="$ASSIGNMENT_ROOT"
else
    unset ASSIGNMENT_DIR
fi
# The script that downloads and checks the data set, relative to ASSIGNMENT_ROOT
# (empty: the notebook reads no data set).
DATASET_FETCH="@DATASET_FETCH@"
PY="python$PYTHON_VERSION"
export DEBIAN_FRONTEND=noninteractive

# The data set, fetched by the assignment's own script in the assignment's folder. It
# runs with a minimal environment (env -i: the PATH, HOME, a locale and any proxy
# settings, which change only the route): no inherited variable can change what it
# fetches, where it puts it or the checksum it checks the download against, so the
# checksum is always the one written in the script itself (the official one) and a
# download that does not match fails the build.
fetch_dataset() {
    if [[ -z "$DATASET_FETCH" ]]; then
        echo "setup.sh: the assignment reads no data set"
        return 0
    fi
    local keep=("PATH=$PATH" "HOME=${HOME:-/root}" "LANG=C.UTF-8") var
    for var in http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY; do
        if [[ -n "${!var:-}" ]]; then
            keep+=("$var=${!var}")
        fi
    done
    (cd "$ASSIGNMENT_ROOT" && env -i "${keep[@]}" "$ASSIGNMENT_ROOT/$DATASET_FETCH")
}

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

fetch_dataset

chmod +x "$SOURCE/run_autograder"
# Fail the image build now, not at the first submission, if something is missing:
# the grader's packages, the spec, its checks or the data set.
"$GRADER_HOME/venv/bin/python" -c "import nbgrader, nbformat, numpy, matplotlib"
(cd "$SOURCE" && PYTHONPATH="$SOURCE" "$GRADER_HOME/venv/bin/python" \
    -m instructor.gradescope.run --check all)
# Which isolation tier grading will use in this container (the strongest that runs):
# namespaces (bubblewrap) where the container allows it, else uid (a dedicated uid,
# the autograder's files unreadable to it, no network). None working fails the build.
(cd "$SOURCE" && PYTHONPATH="$SOURCE" "$GRADER_HOME/venv/bin/python" - <<'PROBE'
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
