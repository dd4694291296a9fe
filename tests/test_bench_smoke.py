"""tools/bench.py --quick runs end to end on the synthetic data set and prints its table.

Only that it runs and what it prints are checked, never a timing: the numbers of a
quick run on a tiny data set mean nothing.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_benchmark_prints_the_table(synthetic_cifar):
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "tools.bench", "--quick"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    header = next(line for line in out.splitlines() if line.startswith("#"))
    for column in ["measurement", "measured", "reference (same run)", "ratio", "target"]:
        assert column in header
    for row in ["loss+grad, N=", "naive loss", "SGD run", "plain sweep",
                "best val / test accuracy", "get_CIFAR10_data()", "peak RSS"]:
        assert row in out, f"row {row!r} missing from the table:\n{out}"
    assert "BLAS:" in out and "CPU:" in out
