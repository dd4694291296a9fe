#!/usr/bin/env bash
# Pack the softmax assignment for submission.
#
# Usage:
#   ./collectSubmission.sh STUDENT_ID
#   STUDENT_ID=STUDENT_ID ./collectSubmission.sh
#   ./collectSubmission.sh --help
#
# Run it in the assignment folder (the one with softmax.ipynb and cs231n/),
# or from anywhere by its path: it always works on the folder it lives in.
# STUDENT_ID: letters, digits, '_', '.', '-' (starting with a letter or
# digit, at most 64 characters).
#
# It checks that softmax.ipynb was run and saved and that every student file
# is there, then writes softmax_STUDENT_ID.zip next to this script with
# softmax.ipynb and all cs231n/**/*.py (no data sets, caches or checkpoints).
# An old zip of the same name is replaced. Exits non-zero, writing no zip,
# if anything is missing.
set -euo pipefail

NOTEBOOK="softmax.ipynb"
# Every file the student works on or hands in must exist:
STUDENT_FILES=(
    cs231n/__init__.py
    cs231n/classifiers/__init__.py
    cs231n/classifiers/softmax.py
    cs231n/classifiers/linear_classifier.py
    cs231n/data_utils.py
    cs231n/gradient_check.py
    cs231n/vis_utils.py
    cs231n/checks.py
    cs231n/check_messages.py
    cs231n/diagnosis.py
    cs231n/contract.py
)
PACKAGE_DIR="cs231n"      # all its .py files go into the zip
ID_PATTERN='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'

ASSIGNMENT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"
}

say() { printf '%s\n' "$*"; }

die() {
    printf 'collectSubmission.sh: error: %s\n' "$*" >&2
    exit 1
}

check_student_id() {
    local id="$1"
    if [[ -z "$id" ]]; then
        die "no student id given. Run ./collectSubmission.sh STUDENT_ID (or set STUDENT_ID)."
    fi
    if [[ ! "$id" =~ $ID_PATTERN ]]; then
        die "invalid student id '$id': use only letters, digits, '_', '.' and '-', start with a letter or digit, at most 64 characters."
    fi
}

check_python() {
    command -v python3 >/dev/null 2>&1 \
        || die "python3 is needed to check the notebook and write the zip; activate the environment you use for the assignment and run this again."
}

# softmax.ipynb must be a JSON notebook with at least one executed code cell.
check_notebook() {
    [[ -f "$NOTEBOOK" ]] \
        || die "$NOTEBOOK not found in $ASSIGNMENT_DIR. Put this script in the assignment folder, next to $NOTEBOOK."
    python3 - "$NOTEBOOK" <<'PY' || exit 1
import json, sys

path = sys.argv[1]
fix = "run all cells and save (File > Save) before collecting."

def fail(msg):
    sys.stderr.write(f"collectSubmission.sh: error: {msg}\n")
    sys.exit(1)

try:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
except (ValueError, UnicodeDecodeError) as e:
    fail(f"{path} is not valid JSON ({e}); it may be damaged. Open it in Jupyter, "
         f"check it, {fix}")
cells = nb.get("cells") if isinstance(nb, dict) else None
if not isinstance(cells, list):
    fail(f"{path} is not a Jupyter notebook (version 4) with cells. Open it in Jupyter, {fix}")
code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
if not any(c.get("outputs") or c.get("execution_count") is not None for c in code):
    fail(f"{path} has no executed code cells: {fix}")
PY
}

check_student_files() {
    local f missing=()
    for f in "${STUDENT_FILES[@]}"; do
        [[ -f "$f" ]] || missing+=("$f")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        die "missing student files: ${missing[*]}. Restore them (from the starter code if you deleted one) and run this again."
    fi
}

# Write the zip through a temporary file in the same folder, then rename it.
write_zip() {
    python3 - "$1" "$NOTEBOOK" "$PACKAGE_DIR" <<'PY'
import os, sys, tempfile, zipfile

zip_path, notebook, package = sys.argv[1:4]
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}

files = [notebook]
for root, dirs, names in os.walk(package):
    dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
    files += sorted(os.path.join(root, n) for n in names
                    if n.endswith(".py") and not n.startswith("."))
files = [f.replace(os.sep, "/") for f in files]

tmp = None
try:
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(zip_path)}.", suffix=".tmp",
                               dir=os.path.dirname(zip_path) or ".")
    with os.fdopen(fd, "wb") as out, zipfile.ZipFile(
            out, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as z:
        for f in files:
            z.write(f, arcname=f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, zip_path)
except BaseException as e:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    if isinstance(e, Exception):
        sys.exit(f"collectSubmission.sh: error: could not write {zip_path}: {e}. "
                 f"Check the free space and permissions of the folder and run this again.")
    raise

print("Files in the submission:")
for f in files:
    print(f"  {f}")
PY
}

main() {
    local id zip_path

    case "${1:-}" in
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1. Run ./collectSubmission.sh --help for usage." ;;
    esac
    if [[ $# -gt 1 ]]; then
        die "expected one argument, the student id, got $#. Run ./collectSubmission.sh --help for usage."
    fi
    id="${1:-${STUDENT_ID:-}}"
    check_student_id "$id"

    cd "$ASSIGNMENT_DIR"
    check_python
    check_notebook
    check_student_files

    zip_path="$ASSIGNMENT_DIR/softmax_${id}.zip"
    write_zip "$zip_path" || exit 1
    say "Wrote $zip_path"
    say "Submit this file."
}

main "$@"
