"""Test helper: overwrite a manifest (force=True) on a slow disk, to be killed mid-write.

usage: manifest_writer.py TARGET ROWS FORMAT

os.write is slowed down (64 KiB per call, 2 ms each) and prints ``writing``
on its first call, so the parent can kill the process inside the write window.
Prints ``done`` after write_manifest returns.
"""

import os
import sys
import time

import numpy as np
import pandas as pd

from labeltui.manifest import build_manifest, write_manifest

_real_write = os.write
_started = False


def _slow_write(fd: int, data: bytes) -> int:
    global _started
    if not _started:
        _started = True
        print("writing", flush=True)
    time.sleep(0.002)
    return _real_write(fd, bytes(data[: 1 << 16]))


def main() -> None:
    target, n, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rows = pd.DataFrame(
        {
            "data_row_id": [f"new-{i}" for i in range(n)],
            "global_key": [f"key-{i}" for i in range(n)],
            "issue": "fp",
            "score": np.linspace(1.0, 0.0, n),
            "verdict": "error",
            "note": "x" * 40,
        }
    )
    manifest = build_manifest(rows, name="new", run_name="kill")
    os.write = _slow_write  # manifest.py writes through os.write
    write_manifest(manifest, target, format=fmt, force=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
