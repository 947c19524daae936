"""Result tables: schema validation, canonical bytes, atomic writes, manifest."""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from gradsub import results

KEY = results.RunKey("Pendulum", "ppo", 3, "smoke")


def _fractions(values=(0.5, 0.25)) -> pd.DataFrame:
    return pd.DataFrame({
        "task": "Pendulum", "algo": "ppo", "seed": 3, "profile": "smoke",
        "step": [100, 0], "network": ["critic", "actor"], "k": [1, 1],
        "gradient": "precise", "hessian": "precise", "value": list(values),
        "random_baseline": 0.01, "n_params": 100,
    })


def test_write_then_read_round_trips_sorted_and_typed(tmp_path):
    path = results.write_table(tmp_path, "gradient_subspace_fraction", KEY, _fractions())
    assert path == tmp_path / "results" / "gradient_subspace_fraction" / "Pendulum_ppo_smoke_seed3.csv"
    frame = results.read_table(tmp_path, "gradient_subspace_fraction")
    assert list(frame["step"]) == [0, 100]  # sorted by the key columns
    assert frame["value"].tolist() == [0.25, 0.5]
    assert [c.name for c in results.SCHEMAS["gradient_subspace_fraction"]] == list(frame.columns)


def test_same_rows_in_any_order_give_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    results.write_table(a, "gradient_subspace_fraction", KEY, _fractions())
    results.write_table(b, "gradient_subspace_fraction", KEY, _fractions().iloc[::-1])
    rel = Path("results/gradient_subspace_fraction/Pendulum_ppo_smoke_seed3.csv")
    assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_float_format_round_trips_float32_values(tmp_path):
    value = float(pd.Series([1 / 3], dtype="float32").iloc[0])
    results.write_table(tmp_path, "gradient_subspace_fraction", KEY, _fractions((value, 0.1)))
    back = results.read_table(tmp_path, "gradient_subspace_fraction")
    assert back["value"].astype("float32").iloc[1] == pd.Series([value], dtype="float32").iloc[0]


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="k"), "missing columns \\['k'\\]"),
    (lambda f: f.assign(extra=1), "unexpected columns \\['extra'\\]"),
    (lambda f: f.assign(network="policy"), "'network' has values \\['policy'\\]; allowed: \\['actor', 'critic'\\]"),
    (lambda f: f.assign(value=1.5), "'value' above 1"),
    (lambda f: f.assign(value=float("nan")), "'value' has 2 missing values"),
    (lambda f: f.assign(k=1.5), "'k' \\(int\\): non-integer"),
    (lambda f: f.assign(step=0, network="actor"), "1 duplicate rows"),
])
def test_bad_tables_are_refused_with_a_message(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        results.write_table(tmp_path, "gradient_subspace_fraction", KEY, change(_fractions()))
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.csv"))


def test_rows_of_another_run_are_refused(tmp_path):
    with pytest.raises(ValueError, match="belong to runs"):
        results.write_table(tmp_path, "gradient_subspace_fraction", KEY, _fractions().assign(seed=4))


def test_unknown_table_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown table 'fractions'; known tables: learning_curve"):
        results.read_table(tmp_path, "fractions")


def test_read_names_the_broken_file(tmp_path):
    path = results.write_table(tmp_path, "gradient_subspace_fraction", KEY, _fractions())
    path.write_text(path.read_text().replace("actor", "policy"))
    with pytest.raises(ValueError, match="Pendulum_ppo_smoke_seed3.csv"):
        results.read_table(tmp_path, "gradient_subspace_fraction")


def test_empty_table_reads_with_its_columns(tmp_path):
    frame = results.read_table(tmp_path, "subspace_overlap")
    assert frame.empty and "t2" in frame.columns


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.txt"
    results.atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    class Exploding(str):
        def encode(self, *args):
            raise Boom

    with pytest.raises(Boom):
        results.atomic_write_text(target, Exploding("new"))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]  # no temporary left behind


def test_manifest_upserts_one_row_per_run(tmp_path):
    params = {"task": "Pendulum", "seed": 3}
    results.record_run(tmp_path, KEY, params, wall_seconds=1.0, status="failed", error="boom\nline 2",
                       finished_utc="2026-01-01T00:00:00+00:00")
    results.record_run(tmp_path, KEY, params, wall_seconds=2.0, status="ok", finished_utc="2026-01-01T00:00:01+00:00")
    other = results.RunKey("Pendulum", "sac", 0, "smoke")
    results.record_run(tmp_path, other, {"a": 1}, wall_seconds=3.0, status="ok", finished_utc="x")
    manifest = results.read_manifest(tmp_path)
    assert list(manifest["run_id"]) == ["Pendulum_ppo_smoke_seed3", "Pendulum_sac_smoke_seed0"]
    row = manifest.iloc[0]
    assert row["status"] == "ok" and row["error"] == ""
    assert row["params_hash"] == results.params_hash(params)
    assert json.loads(row["packages"])["torch"].startswith("2.")
    assert json.loads(row["params"]) == params


def test_a_failed_rerun_keeps_the_finished_runs_row(tmp_path):
    results.record_run(tmp_path, KEY, {"n": 1}, wall_seconds=2.0, status="ok", finished_utc="t1")
    row = results.record_run(tmp_path, KEY, {"n": 2}, wall_seconds=1.0, status="failed", error="boom",
                             finished_utc="t2")
    assert row["error"].startswith("not recorded") and row["error"].endswith("boom")
    kept = results.read_manifest(tmp_path).iloc[0]
    assert (kept["status"], kept["finished_utc"], kept["params_hash"]) == ("ok", "t1", results.params_hash({"n": 1}))


def test_params_hash_ignores_key_order():
    assert results.params_hash({"a": 1, "b": [1, 2]}) == results.params_hash({"b": [1, 2], "a": 1})
    assert results.params_hash({"a": 1}) != results.params_hash({"a": 2})


def test_manifest_status_must_be_known(tmp_path):
    with pytest.raises(ValueError, match="status must be 'ok' or 'failed'"):
        results.record_run(tmp_path, KEY, {}, wall_seconds=0, status="done", finished_utc="x")
    assert not (tmp_path / "manifest.csv").exists()


def test_data_readme_is_generated_from_the_schemas():
    readme = Path(__file__).resolve().parents[1] / "data" / "README.md"
    assert readme.read_text() == results.data_readme(), "run `python -m gradsub.results` to regenerate"


def test_checkout_commit_is_dirty_for_code_changes_but_not_for_the_data_runs_write(tmp_path):
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "data").mkdir(parents=True)
    (repo / "pkg").mkdir()
    outside.mkdir()
    (repo / "data" / "manifest.csv").write_text("a\n")
    (repo / "pkg" / "code.py").write_text("x = 1\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    (repo / "data" / "manifest.csv").write_text("b\n")
    assert results.checkout_commit(repo / "pkg") == head
    (repo / "pkg" / "code.py").write_text("x = 2\n")
    assert results.checkout_commit(repo / "pkg") == head + "-dirty"
    assert results.checkout_commit(outside) == "unknown"
