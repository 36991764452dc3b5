"""Partitioned scoring: in-process parts, a 2-worker Dask LocalCluster, the ``score`` command."""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labeltui.cli import main
from labeltui.config import load_config
from labeltui.convert import convert
from labeltui.distributed import local_cluster, partitions_of, score_on_dask
from labeltui.engine import score as engine
from labeltui.errors import LoadError
from labeltui.load import load_run
from labeltui.run import row_range
from labeltui.score_output import OBJECT_INDEX_COLUMNS, score_locally

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "perf"))
import quality_data  # noqa: E402

DEMOS = ("detection", "ner", "classification")


def _score_in_parts(run, config, bounds):
    """Score ``run`` as consecutive row ranges, the way the Dask path does, and join."""
    prepared = [engine.prepare(row_range(run, lo, hi), config) for lo, hi in zip(bounds[:-1], bounds[1:])]
    fits = engine.fit(run.task, engine.join_features([engine.features(p) for p in prepared]), config)
    knn = engine._knn(run, config.scoring)
    tables, objects, ann_offset = [], [], 0
    for p, lo, hi in zip(prepared, bounds[:-1], bounds[1:]):
        scored = engine.finish(p, fits, config, knn=None if knn is None else knn[lo:hi])
        t, o = scored.scores.copy(), scored.objects.copy()
        t["issue_object"] = np.where(t["issue_object"] >= 0, t["issue_object"] + ann_offset, -1)
        for col in OBJECT_INDEX_COLUMNS:
            if col in o:
                o[col] = np.where(o[col] >= 0, o[col] + ann_offset, -1)
        ann_offset += len(p.run.annotations)
        tables.append(t)
        objects.append(o)
    return pd.concat(tables, ignore_index=True), pd.concat(objects, ignore_index=True)


def _cases():
    for task in DEMOS:
        config = load_config(ROOT / "demo" / task / "run.yaml")
        yield task, load_run(config), config
    config = load_config(ROOT / "demo" / "detection" / "run.yaml")
    for name, make in (("quality-det", quality_data.detection_case), ("quality-ner", quality_data.ner_case),
                       ("quality-cls", quality_data.classification_case)):
        yield name, make(seed=7).run, config


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_parts_score_exactly_like_the_whole_run(case):
    _, run, config = case
    whole = engine.score_run(run, config)
    rng = np.random.default_rng(len(run.rows))
    for n_parts in (2, 5):
        cuts = np.sort(rng.choice(np.arange(1, run.n_rows), n_parts - 1, replace=False))
        bounds = [0, *cuts.tolist(), run.n_rows]
        scores, objects = _score_in_parts(run, config, bounds)
        pd.testing.assert_frame_equal(scores, whole.scores.reset_index(drop=True), check_exact=True)
        pd.testing.assert_frame_equal(objects, whole.objects.reset_index(drop=True), check_exact=True)


def test_a_part_alone_is_scored_with_the_run_wide_statistics():
    """The run-wide fits matter: a part fitted on its own scores differently."""
    case = quality_data.detection_case(seed=7)
    config = load_config(ROOT / "demo" / "detection" / "run.yaml")
    whole = engine.score_run(case.run, config).scores["score"].to_numpy()
    alone = engine.score_run(row_range(case.run, 0, 200), config).scores["score"].to_numpy()
    assert not np.allclose(alone, whole[:200])


def test_partitions_group_consecutive_parts_by_rows():
    parts = [{"n_rows": n} for n in (100, 100, 100, 100, 10)]
    assert partitions_of(parts, None) == [[0], [1], [2], [3], [4]]
    assert partitions_of(parts, 9) == [[0], [1], [2], [3], [4]]
    groups = partitions_of(parts, 2)
    assert sum(groups, []) == [0, 1, 2, 3, 4] and len(groups) == 2
    assert partitions_of(parts, 1) == [[0, 1, 2, 3, 4]]


def _read_dir(folder: Path, sub: str) -> pd.DataFrame:
    files = sorted(glob.glob(str(folder / sub / "*.parquet")))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2) as c:
        yield c


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = {}
    for task in DEMOS:
        folder = tmp_path_factory.mktemp(f"shards-{task}") / "run"
        convert(load_config(ROOT / "demo" / task / "run.yaml"), folder, rows_per_part=130 if task != "detection" else 17)
        out[task] = load_config(folder / "run.yaml")
    return out


@pytest.mark.parametrize("task", DEMOS)
def test_dask_scores_equal_the_local_engine(task, cluster, sharded, tmp_path):
    config = sharded[task]
    local = tmp_path / "local"
    score_locally(config, local, rows_per_part=50, use_cache=False)
    for partitions in (None, 2):
        out = tmp_path / f"dask-{partitions}"
        info = score_on_dask(config, out, scheduler=cluster.scheduler_address, partitions=partitions)
        assert info["n_rows"] == config_rows(config)
        for sub in ("scores", "objects"):
            pd.testing.assert_frame_equal(_read_dir(out, sub), _read_dir(local, sub), check_exact=True)
    original = engine.score_run(load_run(load_config(ROOT / "demo" / task / "run.yaml")), config)
    got = _read_dir(tmp_path / "dask-None", "scores")
    assert np.array_equal(got["score"].to_numpy(), original.scores["score"].to_numpy())
    assert got["row"].tolist() == list(range(len(got)))


def config_rows(config) -> int:
    from labeltui.shards import read_manifest

    return read_manifest(config.ground_truth.path)["n_rows"]


def test_dask_engine_needs_a_sharded_run(tmp_path, capsys):
    code = main(["score", str(ROOT / "demo" / "ner" / "run.yaml"), "--engine", "dask", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "labeltui convert" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_score_refuses_a_non_empty_output_without_force(tmp_path, capsys):
    out = tmp_path / "scores"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    config = str(ROOT / "demo" / "ner" / "run.yaml")
    assert main(["score", config, "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["score", config, "-o", str(out), "--force"]) == 0
    assert (out / "scores.json").exists() and not (out / "keep.txt").exists()
    assert not list(tmp_path.glob(".scores.*"))  # no staging folder left behind


def test_dask_options_need_the_dask_engine(tmp_path, capsys):
    assert main(["score", str(ROOT / "demo" / "ner" / "run.yaml"), "-o", str(tmp_path / "o"), "--partitions", "2"]) == 1
    assert "--engine dask" in capsys.readouterr().err


def test_unreachable_scheduler_is_one_clear_line(sharded, tmp_path, monkeypatch):
    monkeypatch.setattr("labeltui.distributed.CONNECT_TIMEOUT", "1s")
    with pytest.raises(LoadError, match="cannot connect"):
        score_on_dask(sharded["ner"], tmp_path / "o", scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "o").exists()


def test_score_command_runs_on_a_local_cluster(sharded, tmp_path):
    out = tmp_path / "scores"
    proc = subprocess.run(
        [sys.executable, "-m", "labeltui.cli", "score", str(sharded["classification"].path), "--engine", "dask",
         "--workers", "2", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pass 2/2" in proc.stderr and "rows/s" in proc.stdout
    assert len(_read_dir(out, "scores")) == 1000
