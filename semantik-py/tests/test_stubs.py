"""The .pyi stubs agree with the native module (mypy's stubtest)."""

import subprocess
import sys


def test_stubs_match_the_module():
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "semantik._semantik", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
