"""The isolation layer's plumbing: the one Limits and its options, who owns OUT."""
import argparse
import dataclasses
import os

import pytest

from instructor.grade import batch
from instructor.grade.job import Limits, add_limit_options, limits_from_args
from instructor.sandbox.box import minimal_env


def parse(argv, names=None):
    ap = argparse.ArgumentParser()
    add_limit_options(ap, names)
    args = ap.parse_args(argv)
    return limits_from_args(args)


def test_the_options_default_to_the_dataclass():
    limits, error = parse([])
    assert error is None and limits == Limits()


@pytest.mark.parametrize("field", [f for f in dataclasses.fields(Limits) if f.metadata["flag"]],
                         ids=lambda f: f.name)
def test_each_option_sets_its_field_and_refuses_too_little(field):
    flag, low = field.metadata["flag"], field.metadata["min"]
    value = low * 3 + 7
    text = f"{value >> 10}K" if field.metadata["size"] and value % 1024 == 0 else str(value)
    expected = (value >> 10) << 10 if text.endswith("K") else value
    limits, error = parse([flag, text])
    assert error is None and getattr(limits, field.name) == expected
    limits, error = parse([flag, str(low - 1)])
    assert limits is None and flag in error and "at least" in error


def test_the_help_comes_from_the_fields(capsys):
    ap = argparse.ArgumentParser()
    add_limit_options(ap, ["disk", "timeout"])
    text = " ".join(ap.format_help().split())
    assert "--max-disk SIZE" in text and "(default: 200M)" in text
    assert "--timeout N" in text and "(default: 1800)" in text
    assert "--memory" not in text


@pytest.mark.parametrize("tmp", ["/tmp", "/x/box/tmp"])
def test_the_minimal_environment_holds_nothing_of_the_graders(monkeypatch, tmp):
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t")
    env = minimal_env(tmp, threads=3, EXTRA="1")
    assert "SECRET_TOKEN" not in env and env["EXTRA"] == "1"
    assert env["HOME"] == env["TMPDIR"] == tmp and env["OMP_NUM_THREADS"] == "3"
    assert env["MPLCONFIGDIR"].startswith(tmp)


@pytest.fixture
def out_tree(tmp_path):
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    (out / "grades.csv").write_text("x")
    (out / "logs" / "a.log").write_text("y")
    outside = tmp_path / "outside.txt"
    outside.write_text("z")
    (out / "link").symlink_to(outside)
    return out, outside


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
@pytest.mark.parametrize("how", ["sudo", "checkout"])
def test_out_goes_to_the_checkouts_owner_or_the_sudo_user(out_tree, tmp_path, monkeypatch, how):
    out, outside = out_tree
    uid, gid = 4242 + (how == "sudo"), 4343
    if how == "sudo":
        monkeypatch.setenv("SUDO_UID", str(uid))
        monkeypatch.setenv("SUDO_GID", str(gid))
    else:
        monkeypatch.delenv("SUDO_UID", raising=False)
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        os.chown(checkout, uid, gid)
        monkeypatch.setattr(batch, "REPO_ROOT", str(checkout))
    assert batch.out_owner() == (uid, gid)
    batch.give_out_to_owner(str(out))
    for p in [out, *out.rglob("*")]:
        assert (os.lstat(p).st_uid, os.lstat(p).st_gid) == (uid, gid), p
    assert os.stat(outside).st_uid == 0      # a link in OUT is not followed


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
def test_roots_own_checkout_keeps_out_as_it_is(out_tree, tmp_path, monkeypatch):
    out, _ = out_tree
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.setattr(batch, "REPO_ROOT", str(tmp_path))
    assert batch.out_owner() is None
    batch.give_out_to_owner(str(out))
    assert os.stat(out / "grades.csv").st_uid == 0
