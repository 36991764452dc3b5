"""Benchmark loading a COCO-scale detection run (a script, not a pytest test).

Generates the synthetic run once (tests/perf/synth_coco.py; cached), then
measures each phase in a fresh process so peak RSS belongs to that phase:

- ``readers``: read_coco + read_coco_results (the default pyarrow path)
- ``objects``: the same readers forced onto the object path (orjson if installed)
- ``objects-json``: the object path with the standard library json
- ``run``: labeltui.load.load_run(load_config(run.yaml)), readers + assembly

    python tests/perf/bench_load.py                      # 120k images, readers + run
    python tests/perf/bench_load.py --images 20000 --phases readers,objects,objects-json,run

Target: the whole load (``run``) of 120k images / 1M GT / 3M predicted boxes
in <= 15 s wall and <= 3 GB peak RSS on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PHASES = ("readers", "objects", "objects-json", "run")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _Clock:
    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []
        self.t0, self.c0 = time.perf_counter(), _cpu()
        self.t, self.c = self.t0, self.c0

    def mark(self, name: str) -> None:
        t, c = time.perf_counter(), _cpu()
        self.marks.append((name, t - self.t, c - self.c))
        self.t, self.c = t, c

    def report(self) -> dict:
        return {
            "steps": [{"step": n, "wall_s": round(w, 2), "cpu_s": round(c, 2)} for n, w, c in self.marks],
            "total_wall_s": round(time.perf_counter() - self.t0, 2),
            "total_cpu_s": round(_cpu() - self.c0, 2),
            "peak_rss_mb": round(_peak_rss_mb()),
        }


def _phase_readers(run_dir: Path, phase: str) -> dict:
    from labeltui.formats import ReadContext, coco

    if phase != "readers":
        coco._USE_ARROW = False
    if phase == "objects-json":
        coco._orjson = None
    clock = _Clock()
    gt = coco.read_coco(run_dir / "gt.json", ReadContext(role="gt", task="detection"))
    clock.mark(f"read_coco ({len(gt.rows)} rows, {len(gt.annotations)} boxes)")
    pred = coco.read_coco_results(run_dir / "preds.json", ReadContext(role="pred", task="detection", gt=gt))
    clock.mark(f"read_coco_results ({len(pred.annotations)} boxes)")
    return clock.report()


def _phase_run(run_dir: Path) -> dict:
    from labeltui.config import load_config

    try:
        from labeltui.load import load_run
    except ImportError:
        from labeltui.run import load_run  # type: ignore[attr-defined,no-redef]

    clock = _Clock()
    config = load_config(run_dir / "run.yaml")
    clock.mark("load_config")
    stage = ["load_run start"]

    def progress(message: str, fraction: float) -> None:
        clock.mark(stage[0])
        stage[0] = message

    run = load_run(config, progress=progress)
    clock.mark(stage[0])
    out = clock.report()
    out["run"] = {"rows": run.n_rows, "annotations": len(run.annotations), "warnings": run.warnings}
    return out


def _ensure_data(run_dir: Path, images: int, seed: int, regen: bool) -> None:
    marker = run_dir / ".complete"
    if marker.exists() and not regen:
        print(f"reusing {run_dir}")
        return
    marker.unlink(missing_ok=True)
    print(f"generating {images} images into {run_dir} ...", flush=True)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "synth_coco.py"), "--images", str(images), "--seed", str(seed), "--out", str(run_dir)],
        check=True,
    )
    marker.write_text("ok\n")
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in sorted(run_dir.glob("*.json")))
    print(f"generated in {time.perf_counter() - t:.0f} s ({sizes})")


def _print_phase(phase: str, result: dict, images: int) -> None:
    print(f"\n== {phase}")
    for s in result["steps"]:
        print(f"  {s['step']:<60} {s['wall_s']:7.2f} s wall {s['cpu_s']:7.2f} s cpu")
    print(f"  {'total':<60} {result['total_wall_s']:7.2f} s wall {result['total_cpu_s']:7.2f} s cpu")
    print(f"  peak RSS {result['peak_rss_mb']} MB")
    if "run" in result:
        if images >= 120_000:
            ok = result["total_wall_s"] <= 15 and result["peak_rss_mb"] <= 3072
            print(f"  target (<= 15 s wall, <= 3072 MB): {'met' if ok else 'NOT met'}")
        r = result["run"]
        print(f"  run: {r['rows']} rows, {r['annotations']} annotations")
        for w in r["warnings"]:
            print(f"  warning: {w}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark loading a synthetic COCO-scale run.")
    ap.add_argument("--images", type=int, default=120_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None, help="where the synthetic run is kept (default: ~/.cache/labeltui-bench/...)")
    ap.add_argument("--regen", action="store_true", help="regenerate the synthetic run even if cached")
    ap.add_argument("--phases", default="readers,run", help=f"comma-separated, from: {', '.join(PHASES)}")
    ap.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)  # internal: run one phase, print JSON
    args = ap.parse_args(argv)

    base = args.cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labeltui-bench"
    run_dir = base / f"coco-{args.images}-seed{args.seed}" if args.cache is None else base
    if args.phase:
        sys.path.insert(0, str(ROOT))
        result = _phase_run(run_dir) if args.phase == "run" else _phase_readers(run_dir, args.phase)
        print(json.dumps(result))
        return 0

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        ap.error(f"unknown phase(s) {unknown}; known: {', '.join(PHASES)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    _ensure_data(run_dir, args.images, args.seed, args.regen)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}")
    for phase in phases:
        cmd = [sys.executable, __file__, "--images", str(args.images), "--seed", str(args.seed), "--phase", phase]
        if args.cache is not None:
            cmd += ["--cache", str(args.cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"\n== {phase} FAILED\n{proc.stderr.strip()}")
            continue
        _print_phase(phase, json.loads(proc.stdout.strip().splitlines()[-1]), args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
