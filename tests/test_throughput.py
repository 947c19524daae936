"""The training-throughput benchmark end to end on a tiny configuration (two processes side by side)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_throughput_benchmark_writes_one_row_per_process_of_each_count(tmp_path):
    out = tmp_path / "throughput.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--tasks", "pendulum",
                    "--algos", "sac", "--parallel", "1", "2", "--steps", "64", "--out", str(out)],
                   check=True, cwd=tmp_path, timeout=600)
    table = pd.read_csv(out)
    assert table[["task", "algo"]].drop_duplicates().values.tolist() == [["Pendulum", "sac"]]
    assert sorted(zip(table["parallel"], table["process"])) == [(1, 0), (2, 0), (2, 1)]
    assert (table["steps"] >= 64).all()
    assert ((table["steps_per_s"] - table["steps"] / table["seconds"]).abs() < 1e-3 * table["steps_per_s"]).all()
    assert "--parallel 1 2" in json.loads(out.with_suffix(".json").read_text())["command"]


def test_throughput_benchmark_names_an_unknown_task(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--tasks", "Nope",
                          "--out", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "Pendulum" in run.stderr and not (tmp_path / "t.csv").exists()


def test_whole_run_window_sits_beside_the_short_one_with_its_ratio_and_profile(tmp_path):
    out = tmp_path / "whole.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--tasks", "Pendulum",
                    "--algos", "ppo", "--parallel", "2", "--steps", "64", "--whole-steps", "256",
                    "--profile-whole", "--out", str(out)], check=True, cwd=tmp_path, timeout=900)
    table = pd.read_csv(out)
    assert sorted(zip(table["window"], table["process"])) == [("short", 0), ("short", 1), ("whole", 0), ("whole", 1)]
    whole = table[table["window"] == "whole"].set_index("process")
    short = table[table["window"] == "short"].set_index("process")
    assert (whole["steps"] == 256).all()
    assert ((whole["whole_over_short"] - whole["steps_per_s"] / short["steps_per_s"]).abs() < 1e-3).all()
    assert table.loc[table["window"] == "short", "whole_over_short"].isna().all()
    report = out.with_suffix(".profile.txt").read_text()
    assert "process 0" in report and "process 1" not in report and "tottime" in report
