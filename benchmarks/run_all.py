"""``make bench``: run every benchmark in this folder (bench_*.py), in one process each."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n##### {script.name}", flush=True)
    if subprocess.call([sys.executable, str(script)] + sys.argv[1:]) != 0:
        failed.append(script.name)
if failed:
    print(f"\nfailed: {', '.join(failed)}")
    sys.exit(1)
