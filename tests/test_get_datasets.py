"""Tests for get_datasets.sh, on small synthetic archives; no network needed."""
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cifar_fixture import write_cifar
from cs231n.data_utils import load_CIFAR10

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "get_datasets.sh"

EXPECTED = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
            "data_batch_5", "test_batch", "batches.meta"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("tar") is None,
                                reason="needs bash and tar")


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_archive(tmp_path, name="cifar-10-python.tar.gz", drop=(), extra=()):
    """A small cifar-10-python.tar.gz: synthetic batches plus batches.meta.

    drop: member file names to leave out; extra: (TarInfo, bytes or None) to add.
    Returns the archive path and the raw arrays written.
    """
    src = tmp_path / "src"
    folder, raw = write_cifar(str(src), n_per_batch=20, n_test=10, seed=1)
    Path(folder, "batches.meta").write_bytes(b"synthetic batches.meta")
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py", recursive=False)
        for f in sorted(os.listdir(folder)):
            if f not in drop:
                tar.add(os.path.join(folder, f), arcname=f"cifar-10-batches-py/{f}")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    shutil.rmtree(src)
    return archive, raw


def run(*args, env=None, cwd=None, script=SCRIPT):
    """Run the script with a clean CIFAR10_* environment plus env."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CIFAR10_")}
    full_env.update(env or {})
    return subprocess.run([str(script), *map(str, args)], env=full_env, cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=120)


def leftovers(parent):
    """Temporary folders the script left in parent."""
    return [p.name for p in Path(parent).iterdir() if p.name.startswith(".cifar10-tmp")]


@pytest.fixture
def archive(tmp_path):
    path, raw = make_archive(tmp_path)
    return path, raw


def test_help_prints_usage():
    r = run("--help")
    assert r.returncode == 0
    assert "Usage" in r.stdout
    for var in ("CIFAR10_DIR", "CIFAR10_ARCHIVE", "CIFAR10_URL", "CIFAR10_MD5"):
        assert var in r.stdout


def test_too_many_arguments_fail(tmp_path):
    r = run("a.tar.gz", "b.tar.gz", env={"CIFAR10_DIR": str(tmp_path / "data")})
    assert r.returncode != 0
    assert "--help" in r.stderr
    assert not (tmp_path / "data").exists()


def test_installs_from_local_archive_and_loads(tmp_path, archive):
    path, raw = archive
    target = tmp_path / "data" / "cifar-10-batches-py"
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)})
    assert r.returncode == 0, r.stderr
    assert "ready" in r.stdout
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
    assert path.exists(), "the user's own archive must be kept"
    assert leftovers(target.parent) == []
    Xtr, Ytr, Xte, Yte = load_CIFAR10(str(target))
    assert Xtr.shape == (100, 32, 32, 3) and Xte.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(
        Ytr, np.concatenate([raw[f"data_batch_{b}"][1] for b in range(1, 6)]))
    np.testing.assert_array_equal(Yte, raw["test_batch"][1])
    np.testing.assert_array_equal(
        Xtr[0], raw["data_batch_1"][0][0].reshape(3, 32, 32).transpose(1, 2, 0))


def test_archive_from_environment_variable(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "cifar"
    r = run(env={"CIFAR10_DIR": str(target), "CIFAR10_ARCHIVE": str(path),
                 "CIFAR10_MD5": md5(path)})
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
    assert path.exists()


def test_second_run_is_a_no_op(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "cifar-10-batches-py"
    env = {"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)}
    assert run(path, env=env).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in [target, *target.iterdir()]}
    parent_before = tmp_path.stat().st_mtime_ns
    r = run(path, env=env)
    assert r.returncode == 0, r.stderr
    assert "already present" in r.stdout
    assert {p.name: p.stat().st_mtime_ns for p in [target, *target.iterdir()]} == before
    assert tmp_path.stat().st_mtime_ns == parent_before
    # Not even an archive is needed once the data is there.
    r = run(env={"CIFAR10_DIR": str(target), "CIFAR10_URL": "file:///nonexistent/x.tar.gz"})
    assert r.returncode == 0 and "already present" in r.stdout


def test_wrong_md5_fails_and_leaves_nothing(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "data" / "cifar-10-batches-py"
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": "0" * 32})
    assert r.returncode != 0
    assert "checksum mismatch" in r.stderr
    assert md5(path) in r.stderr and "0" * 32 in r.stderr
    assert "Download" in r.stderr  # says what to do
    assert not target.exists()
    assert leftovers(target.parent) == []
    assert path.exists()


def test_default_md5_is_the_official_one(tmp_path, archive):
    path, _ = archive
    r = run(path, env={"CIFAR10_DIR": str(tmp_path / "cifar")})
    assert r.returncode != 0
    assert "c58f30108f718f92721af3b95e74349a" in r.stderr
    assert not (tmp_path / "cifar").exists()


def test_truncated_archive_fails(tmp_path, archive):
    path, _ = archive
    data = path.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    target = tmp_path / "cifar-10-batches-py"
    r = run(cut, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(cut)})
    assert r.returncode != 0
    assert "truncated" in r.stderr
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_not_an_archive_fails(tmp_path):
    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_bytes(b"<html>Not found</html>")
    target = tmp_path / "cifar"
    r = run(bogus, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(bogus)})
    assert r.returncode != 0
    assert "not a .tar.gz" in r.stderr
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("missing", ["test_batch", "batches.meta"])
def test_archive_missing_a_file_fails(tmp_path, missing):
    path, _ = make_archive(tmp_path, drop=(missing,))
    target = tmp_path / "cifar-10-batches-py"
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)})
    assert r.returncode != 0
    assert missing in r.stderr
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_archive_with_other_folder_fails(tmp_path):
    src = tmp_path / "src"
    folder, _ = write_cifar(str(src), n_per_batch=5, n_test=5)
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
    target = tmp_path / "cifar"
    r = run(archive, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(archive)})
    assert r.returncode != 0
    assert "does not contain the folder cifar-10-batches-py" in r.stderr
    assert not target.exists() and leftovers(tmp_path) == []


def _file(name, data=b"owned\n"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _symlink(name, to):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = to
    return info, None


@pytest.mark.parametrize("member", [
    _file("../evil"),
    _file("cifar-10-batches-py/../../evil"),
    _file("/tmp/evil-absolute"),
    _symlink("cifar-10-batches-py/link", "/etc"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink"])
def test_unsafe_members_are_refused(tmp_path, member):
    work = tmp_path / "work"
    work.mkdir()
    path, _ = make_archive(tmp_path, extra=[member])
    target = work / "cifar-10-batches-py"
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)})
    assert r.returncode != 0
    assert "refusing to extract" in r.stderr
    assert not target.exists() and leftovers(work) == []
    assert not (tmp_path / "evil").exists() and not (work / "evil").exists()


def test_nonexistent_archive_fails(tmp_path):
    target = tmp_path / "cifar"
    r = run(tmp_path / "nope.tar.gz", env={"CIFAR10_DIR": str(target)})
    assert r.returncode != 0
    assert "archive not found" in r.stderr and "nope.tar.gz" in r.stderr
    assert not target.exists() and leftovers(tmp_path) == []


def test_incomplete_target_is_replaced(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "cifar-10-batches-py"
    target.mkdir()
    (target / "data_batch_1").write_bytes(b"partial")
    (target / "test_batch").write_bytes(b"")
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)})
    assert r.returncode == 0, r.stderr
    assert "incomplete" in r.stdout
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
    assert (target / "data_batch_1").stat().st_size > 100
    assert leftovers(tmp_path) == []
    load_CIFAR10(str(target))


def test_incomplete_target_is_kept_when_new_copy_is_bad(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "cifar-10-batches-py"
    target.mkdir()
    (target / "data_batch_1").write_bytes(b"partial")
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": "f" * 32})
    assert r.returncode != 0
    assert "incomplete" in r.stdout
    assert os.listdir(target) == ["data_batch_1"]
    assert (target / "data_batch_1").read_bytes() == b"partial"
    assert leftovers(tmp_path) == []


def test_target_that_is_a_file_fails(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "cifar-10-batches-py"
    target.write_text("not a folder")
    r = run(path, env={"CIFAR10_DIR": str(target), "CIFAR10_MD5": md5(path)})
    assert r.returncode != 0
    assert "not a folder" in r.stderr
    assert target.read_text() == "not a folder"


def test_default_target_is_next_to_the_script_from_any_cwd(tmp_path, archive):
    path, _ = archive
    assignment = tmp_path / "assignment"
    assignment.mkdir()
    script = assignment / "get_datasets.sh"
    shutil.copy2(SCRIPT, script)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run(os.path.relpath(path, elsewhere), env={"CIFAR10_MD5": md5(path)},
            cwd=elsewhere, script=script)
    assert r.returncode == 0, r.stderr
    target = assignment / "datasets" / "cifar-10-batches-py"
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
    assert os.listdir(elsewhere) == []
    assert leftovers(target.parent) == []
    load_CIFAR10(str(target))


def test_relative_cifar10_dir_is_relative_to_cwd(tmp_path, archive):
    path, _ = archive
    r = run(path, env={"CIFAR10_DIR": "here/cifar/", "CIFAR10_MD5": md5(path)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "here" / "cifar")) == sorted(EXPECTED)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (for file:// URLs)")
def test_download_through_url(tmp_path, archive):
    path, _ = archive
    target = tmp_path / "data" / "cifar-10-batches-py"
    r = run(env={"CIFAR10_DIR": str(target), "CIFAR10_URL": path.as_uri(),
                 "CIFAR10_MD5": md5(path)})
    assert r.returncode == 0, r.stderr
    assert "Downloading" in r.stdout
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
    # the downloaded archive is removed, nothing else is left next to the data
    assert os.listdir(target.parent) == ["cifar-10-batches-py"]
    load_CIFAR10(str(target))


@pytest.mark.skipif(shutil.which("curl") is None and shutil.which("wget") is None,
                    reason="needs curl or wget")
def test_failed_download_fails(tmp_path):
    target = tmp_path / "data" / "cifar-10-batches-py"
    r = run(env={"CIFAR10_DIR": str(target),
                 "CIFAR10_URL": (tmp_path / "missing.tar.gz").as_uri()})
    assert r.returncode != 0
    assert "download of" in r.stderr and "failed" in r.stderr
    assert "get_datasets.sh PATH" in r.stderr  # says how to go on without the network
    assert "set CIFAR10_DIR to its cifar-10-batches-py folder" in r.stderr   # or with a copy
    assert not target.exists()
    assert leftovers(target.parent) == []


def _path_without(tmp_path, names):
    """A PATH holding every program of the current PATH except names."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for prog in os.listdir(d):
            src = os.path.join(d, prog)
            dst = bin_dir / prog
            if prog in names or dst.exists() or not os.access(src, os.X_OK):
                continue
            if os.path.isfile(src):
                dst.symlink_to(src)
    return str(bin_dir)


def test_no_downloader_says_what_to_do(tmp_path):
    target = tmp_path / "data" / "cifar-10-batches-py"
    r = run(env={"CIFAR10_DIR": str(target),
                 "PATH": _path_without(tmp_path, {"curl", "wget"})})
    assert r.returncode != 0
    assert "neither curl nor wget" in r.stderr
    assert "CIFAR10_DIR" in r.stderr and "get_datasets.sh PATH" in r.stderr
    assert not target.exists() and leftovers(target.parent) == []


def test_md5_falls_back_to_python(tmp_path, archive):
    if shutil.which("python3") is None:
        pytest.skip("needs python3")
    path, _ = archive
    target = tmp_path / "cifar"
    env = {"CIFAR10_DIR": str(target), "PATH": _path_without(tmp_path, {"md5sum"})}
    r = run(path, env={**env, "CIFAR10_MD5": "0" * 32})
    assert r.returncode != 0 and md5(path) in r.stderr
    r = run(path, env={**env, "CIFAR10_MD5": md5(path).upper()})
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(target)) == sorted(EXPECTED)
