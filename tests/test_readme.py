"""The README's Python example runs as written and prints what its numbers mean."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code, "README.md has no python example"
    proc = subprocess.run([sys.executable, "-c", code[1]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    f_prime_1, w1, fid = (float(x) for x in proc.stdout.split())
    assert f_prime_1 == 0.0  # JS: f'(1) = 0 in the lectures' table
    assert 0.3 < w1 < 1.5 and fid > 0  # the ring (radius 1) against N(0, I): far apart, not identical
