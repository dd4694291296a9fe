#!/usr/bin/env bash
# Get CIFAR-10 (python version) into datasets/cifar-10-batches-py.
#
# Usage:
#   ./get_datasets.sh                               download from the official site
#   ./get_datasets.sh PATH/cifar-10-python.tar.gz   install from an archive you already have
#   ./get_datasets.sh --help
#
# Environment variables (all optional):
#   CIFAR10_DIR      the data set folder to create (default: datasets/cifar-10-batches-py
#                    next to this script, wherever you run it from)
#   CIFAR10_ARCHIVE  a local cifar-10-python.tar.gz to install instead of downloading
#                    (the first argument wins if both are given)
#   CIFAR10_URL      where to download from (default: the official Toronto URL)
#   CIFAR10_MD5      the archive's expected md5 (default: the official archive's md5)
#
# Does nothing if the folder already holds a complete copy. The archive is
# checked (md5, safe member names, expected files) and extracted into a
# temporary folder next to the target, which is moved into place only once
# it is complete, so a failure never leaves a half-extracted data set behind.
# A downloaded archive is removed afterwards; your own archive is left alone.
set -euo pipefail

DEFAULT_URL="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DEFAULT_MD5="c58f30108f718f92721af3b95e74349a"
ARCHIVE_FOLDER="cifar-10-batches-py"   # the folder inside the archive
REQUIRED_FILES=(data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5
                test_batch batches.meta)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
URL="${CIFAR10_URL:-$DEFAULT_URL}"
EXPECTED_MD5="${CIFAR10_MD5:-$DEFAULT_MD5}"
WORK=""        # temporary folder next to the target, removed on exit

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"
}

say() { printf '%s\n' "$*"; }

# Lines on stdin as "a, b, c".
join_lines() { paste -sd, - | sed 's/,/, /g'; }

die() {
    printf 'get_datasets.sh: error: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf -- "$WORK"
    fi
}

# An absolute version of a path (no normalisation needed for our messages).
abs_path() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

# Files of REQUIRED_FILES missing or empty in folder $1, one a line.
missing_files() {
    local f
    for f in "${REQUIRED_FILES[@]}"; do
        [[ -s "$1/$f" ]] || printf '%s\n' "$f"
    done
}

is_complete() {
    [[ -d "$1" ]] && [[ -z "$(missing_files "$1")" ]]
}

md5_of() {
    if command -v md5sum >/dev/null 2>&1; then
        md5sum -- "$1" | cut -d' ' -f1
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import hashlib, sys
h = hashlib.md5()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
    else
        die "cannot compute an md5: install md5sum (coreutils) or python3, then run this again."
    fi
}

# The other ways when the download fails: a copy on this machine, or an archive.
OTHER_WAYS="If CIFAR-10 is already on this machine, set CIFAR10_DIR to its cifar-10-batches-py folder instead (export CIFAR10_DIR=/path/to/cifar-10-batches-py): the notebook, the grader and this script use it, and nothing is downloaded. Or download the archive yourself and run ./get_datasets.sh PATH/cifar-10-python.tar.gz"

download() {  # download URL FILE
    say "Downloading $1"
    if command -v curl >/dev/null 2>&1; then
        curl -fL --progress-bar --retry 2 -o "$2" -- "$1" \
            || die "download of $1 failed (curl). Check your internet connection and run ./get_datasets.sh again. $OTHER_WAYS"
    elif command -v wget >/dev/null 2>&1; then
        wget --progress=bar:force -O "$2" -- "$1" \
            || die "download of $1 failed (wget). Check your internet connection and run ./get_datasets.sh again. $OTHER_WAYS"
    else
        die "neither curl nor wget is installed. Install one of them and run ./get_datasets.sh again. $OTHER_WAYS"
    fi
}

# What to do when the archive is bad; $1 is "downloaded" or "local".
redo_hint() {
    if [[ "$1" == downloaded ]]; then
        printf '%s' "Run ./get_datasets.sh again to download it again."
    else
        printf '%s' "Download cifar-10-python.tar.gz again from $DEFAULT_URL and retry with the new file."
    fi
}

check_md5() {  # check_md5 ARCHIVE ORIGIN
    local actual expected
    say "Checking the md5 of $1"
    actual="$(md5_of "$1" | tr 'A-F' 'a-f')"
    expected="$(printf '%s' "$EXPECTED_MD5" | tr 'A-F' 'a-f')"
    if [[ "$actual" != "$expected" ]]; then
        die "checksum mismatch for $1: md5 is $actual, expected $expected. The archive is damaged, incomplete or not the CIFAR-10 python version. $(redo_hint "$2") (Set CIFAR10_MD5 only if you trust a mirror that packs it differently.)"
    fi
}

# Refuse archives that are unreadable, or whose members could land outside
# the extraction folder (absolute paths, "..") or are links or devices.
check_listing() {  # check_listing ARCHIVE ORIGIN
    local names types bad
    names="$(tar -tzf "$1" 2>/dev/null)" \
        || die "$1 is truncated or not a .tar.gz archive (tar could not list it). $(redo_hint "$2")"
    [[ -n "$names" ]] || die "$1 is an empty archive. $(redo_hint "$2")"
    bad="$(printf '%s\n' "$names" | grep -E '^/|(^|/)\.\.(/|$)' || true)"
    if [[ -n "$bad" ]]; then
        die "refusing to extract $1: it has members with absolute paths or '..' that would be written outside the data set folder ($(printf '%s\n' "$bad" | head -n 5 | join_lines)); this is not the official archive. $(redo_hint "$2")"
    fi
    types="$(tar -tvzf "$1" 2>/dev/null | cut -c1 | sort -u | tr -d '\n')" \
        || die "$1 is truncated or not a .tar.gz archive (tar could not list it). $(redo_hint "$2")"
    if [[ -n "${types//[-d]/}" ]]; then
        die "refusing to extract $1: it has links or special files, which the official archive does not have. $(redo_hint "$2")"
    fi
}

extract() {  # extract ARCHIVE DEST ORIGIN
    mkdir -p -- "$2"
    say "Extracting $1"
    tar -xzf "$1" -C "$2" --no-same-owner \
        || die "extracting $1 failed (truncated or damaged archive, or the disk is full). $(redo_hint "$3")"
}

verify_extracted() {  # verify_extracted FOLDER ARCHIVE ORIGIN
    local missing
    if [[ ! -d "$1" ]]; then
        die "$2 does not contain the folder $ARCHIVE_FOLDER/; it is not the CIFAR-10 python version. $(redo_hint "$3")"
    fi
    missing="$(missing_files "$1")"
    if [[ -n "$missing" ]]; then
        die "$2 lacks these files in $ARCHIVE_FOLDER/ (missing or empty): $(printf '%s\n' "$missing" | join_lines); it is not the complete CIFAR-10 python version. $(redo_hint "$3")"
    fi
}

# Move the verified folder $1 to the target $2, replacing an incomplete copy.
install_folder() {
    if [[ -e "$2" ]]; then
        mv -- "$2" "$WORK/previous" \
            || die "could not move the incomplete $2 out of the way (check the permissions of its folder)."
        if ! mv -- "$1" "$2"; then
            mv -- "$WORK/previous" "$2" || true
            die "could not move the new data set into $2; the old folder was left as it was."
        fi
    else
        mv -- "$1" "$2" || die "could not move the new data set into $2 (check the permissions of its folder)."
    fi
}

main() {
    local archive="" origin target parent

    case "${1:-}" in
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1. Run ./get_datasets.sh --help for usage." ;;
    esac
    if [[ $# -gt 1 ]]; then
        die "expected at most one argument (a local archive), got $#. Run ./get_datasets.sh --help for usage."
    fi
    archive="${1:-${CIFAR10_ARCHIVE:-}}"

    target="${CIFAR10_DIR:-$SCRIPT_DIR/datasets/$ARCHIVE_FOLDER}"
    while [[ "$target" == */ && "$target" != / ]]; do target="${target%/}"; done
    target="$(abs_path "$target")"

    if is_complete "$target"; then
        say "CIFAR-10 is already present in $target; nothing to do."
        exit 0
    fi
    if [[ -e "$target" && ! -d "$target" ]]; then
        die "$target exists and is not a folder. Move it away (or set CIFAR10_DIR to another folder) and run this again."
    fi
    if [[ -d "$target" ]]; then
        say "$target is incomplete (missing or empty: $(missing_files "$target" | join_lines)); it will be replaced once a new copy is verified."
    fi

    if [[ -n "$archive" ]]; then
        origin=local
        [[ -f "$archive" ]] || die "archive not found: $archive. Give the path of cifar-10-python.tar.gz, or run ./get_datasets.sh without arguments to download it."
        [[ -r "$archive" ]] || die "cannot read the archive $archive (check its permissions)."
    else
        origin=downloaded
    fi

    parent="$(dirname -- "$target")"
    mkdir -p -- "$parent" || die "cannot create the folder $parent (check its permissions)."
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    WORK="$(mktemp -d "$parent/.cifar10-tmp.XXXXXX")" \
        || die "cannot create a temporary folder in $parent (check its permissions and free space)."

    if [[ "$origin" == downloaded ]]; then
        archive="$WORK/cifar-10-python.tar.gz"
        download "$URL" "$archive"
    fi

    check_md5 "$archive" "$origin"
    check_listing "$archive" "$origin"
    extract "$archive" "$WORK/extract" "$origin"
    verify_extracted "$WORK/extract/$ARCHIVE_FOLDER" "$archive" "$origin"
    install_folder "$WORK/extract/$ARCHIVE_FOLDER" "$target"
    if [[ "$origin" == downloaded ]]; then
        rm -f -- "$archive"
    fi
    say "CIFAR-10 is ready in $target"
}

main "$@"
