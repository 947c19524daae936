"""The eigensolver benchmark end to end at its ``--quick`` configuration.

One subprocess runs ``benchmarks/eigensolver.py --quick`` into a temporary folder: it trains two
smoke-sized Pendulum runs (PPO, SAC), then measures the paper's solver, ours (cold and warm) and, when
the extra ``bench`` is installed, the two peers (curvlinops, hessian-eigenthings) on the PPO actor and
the SAC critic, each in a fresh interpreter (about 5 s each of interpreter start, torch import and
checkpoint loading), plus the two trainings.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "eigensolver.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("eigensolver_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "eigensolver.csv"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out),
                           "--artifacts", str(folder / "artifacts")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return pd.read_csv(out), json.loads(out.with_suffix(".json").read_text()), done.stdout


def test_csv_has_the_columns_and_every_measurement(quick):
    frame, _, _ = quick
    bench = _script_module()
    assert list(frame.columns) == bench.COLUMNS
    methods = bench.available_methods()  # the peers too when the extra "bench" is installed
    assert sorted(zip(frame["algo"], frame["network"])) == sorted(
        [("ppo", "actor")] * len(methods) + [("sac", "critic")] * len(methods))
    assert (frame["status"] == "ok").all()
    for _, rows in frame.groupby(["algo", "network"]):
        assert sorted(rows["method"]) == sorted(methods)
    assert (frame["k"] == 5).all() and (frame["n_samples"] == 256).all()
    warm = frame[frame["method"] == "block warm"]
    assert (warm["warm_from"] == 256).all() and (warm["warm_mode"] != "").all()


def test_every_method_converges(quick):
    frame, _, _ = quick
    # tol = 1e-4 for every method (the paper's eigsh tol); the check is a true residual.
    assert (frame["max_residual"] <= 1e-4).all(), frame[["network", "method", "max_residual"]]
    assert (frame["max_residual_float64"] <= 1e-4).all(), frame[["network", "method", "max_residual_float64"]]


def test_ratios_are_positive_finite_and_one_for_the_paper(quick):
    frame, _, _ = quick
    for column in ("seconds_ratio", "products_ratio", "passes_ratio", "peak_ratio"):
        values = frame[column].to_numpy(dtype=float)
        assert all(math.isfinite(v) and v > 0 for v in values), (column, values)
        assert (frame.loc[frame["method"] == "paper", column] == 1).all()


def test_accuracy_against_the_paper(quick):
    frame, _, _ = quick
    # Every worker drew the same data: its float64 gradient is the paper worker's, bit for bit.
    assert (frame["gradient_mismatch"] == 0).all()
    assert frame["max_dfrac"].between(0, 1).all()
    assert (frame["k_gap"] >= 1).all()
    # Residuals <= 1e-4 |lambda| and a relative gap > 1e-3 bound the angle between the compared
    # subspaces by about 2 * 1e-4 / 1e-3 = 0.2 (Davis-Kahan), so the overlap is at least 1 - 0.2^2.
    assert (frame["overlap_at_gap"] >= 0.96).all(), frame[["network", "method", "overlap_at_gap"]]


def test_peers_race_against_our_operator(quick):
    frame, sidecar, _ = quick
    bench = _script_module()
    if set(bench.PEERS) - set(bench.available_methods()):
        pytest.skip("the peers need the bench extra (pip install -e '.[bench]')")
    peers = frame[frame["method"].isin(bench.PEERS)]
    for column in ("matvec_ratio_float32", "matvec_ratio_float64", "block_ratio_float32", "block_ratio_float64"):
        assert (peers[column] > 0).all(), peers[["method", column]]
    eigenthings = frame[frame["method"] == "hessian-eigenthings"]
    assert (eigenthings["lanczos_steps"] >= eigenthings["k"]).all()
    # The race's operators compute the same Hessian: products agree to float64 rounding (1e-10 is
    # far above it for these small sums) in the float64 race.
    races = [w["race_float64"] for w in sidecar["workers"] if w.get("method") == "curvlinops"]
    assert races and all(r[name]["max_rel_difference"] <= 1e-10 for r in races for name in r)


def test_provenance_and_printed_table(quick):
    frame, sidecar, stdout = quick
    for key in ("command", "machine", "torch", "git_commit", "workers"):
        assert sidecar[key], key
    assert "--quick" in sidecar["command"]
    assert frame["machine"].nunique() == 1 and frame["git_commit"].nunique() == 1
    assert "seconds_ratio" in stdout and "overlap_at_gap" in stdout


def test_a_run_replaces_its_configurations_and_keeps_the_others(tmp_path):
    bench = _script_module()
    out = tmp_path / "eigensolver.csv"

    def run(network, n, seconds, got=None):
        algo, net = network.split("-")
        rows = [{"task": "T", "algo": algo, "network": net, "n_requested": n, "n_samples": got or n, "k": 5,
                 "method": m, "status": "ok", "seconds": seconds} for m in reversed(bench.METHODS)]
        raw = {"runs": [{"network": network}], "workers": [{"network": network, "n": n, "method": m}
                                                           for m in bench.METHODS]}
        bench.write_outputs(rows, raw, out, ["benchmarks/eigensolver.py", "--n", str(n)])

    run("sac-critic", 100, 1.0, got=99)  # the buffer held one row fewer than asked for
    run("ppo-actor", 100, 2.0)
    run("sac-critic", 100, 3.0)  # measured again: replaces its first rows, though they got 99 rows
    frame = pd.read_csv(out)
    assert list(zip(frame["network"], frame["method"])) == [("actor", m) for m in bench.METHODS] + \
        [("critic", m) for m in bench.METHODS]
    assert frame.set_index("network")["seconds"].to_dict() == {"actor": 2.0, "critic": 3.0}
    assert (frame["n_samples"] == 100).all()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sorted((w["network"], w["method"]) for w in sidecar["workers"]) == sorted(
        (net, m) for net in ("ppo-actor", "sac-critic") for m in bench.METHODS)
    assert [r["network"] for r in sidecar["runs"]] == ["sac-critic", "ppo-actor"]
    assert len(sidecar["earlier"]) == 2 and sidecar["command"].endswith("--n 100")


def test_rows_from_before_n_requested_count_as_their_power_of_ten(tmp_path):
    bench = _script_module()
    out = tmp_path / "eigensolver.csv"
    legacy = pd.DataFrame([{"task": "T", "algo": "sac", "network": "critic", "n_samples": 99_999, "k": 5,
                            "method": m, "status": "ok", "seconds": 1.0} for m in bench.METHODS])
    legacy.to_csv(out, index=False)
    out.with_suffix(".json").write_text(json.dumps({"command": "old", "git_commit": "x", "finished_utc": "t",
                                                    "runs": [], "workers": []}))
    rows = [{"task": "T", "algo": "sac", "network": "critic", "n_requested": 100_000, "n_samples": 100_000,
             "k": 5, "method": m, "status": "ok", "seconds": 2.0} for m in bench.METHODS]
    bench.write_outputs(rows, {"runs": [], "workers": []}, out, ["benchmarks/eigensolver.py"])
    frame = pd.read_csv(out)
    assert (frame["seconds"] == 2.0).all() and len(frame) == len(bench.METHODS)


@pytest.mark.parametrize("argv", [["--n", "0"], ["--k", "0"], ["--n", "ten"], ["--chunk-size", "-1"]])
def test_bad_sizes_are_refused_before_anything_runs(argv, capsys):
    bench = _script_module()
    with pytest.raises(SystemExit) as info:
        bench.parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "positive integer" in err and argv[0] in err


# --- the performance page's view of the peers (gradsub.report.performance) -----------------------------


def test_the_report_names_the_benchmarks_methods():
    from gradsub.report import performance

    bench = _script_module()
    assert performance.OUR_METHODS == bench.OURS and performance.PEER_METHODS == bench.PEERS


def _peer_rows(n, curvlinops_ratio, peak):
    """One configuration's rows: ours cold takes 10 s and 500 MiB, the paper 20 s."""
    base = {"task": "T", "algo": "ppo", "network": "actor", "n_samples": n, "k": 5, "status": "ok",
            "max_residual_float64": 1e-5, "overlap_at_gap": 1.0, "n_products": 100, "n_data_passes": 10}
    rows = [{**base, "method": "paper", "seconds": 20.0, "seconds_ratio": 1.0, "peak_mib": 900.0},
            {**base, "method": "block cold", "seconds": 10.0, "seconds_ratio": 0.5, "peak_mib": 500.0},
            {**base, "method": "block warm", "seconds": 5.0, "seconds_ratio": 0.25, "peak_mib": 500.0},
            {**base, "method": "curvlinops", "seconds": 30.0, "seconds_ratio": 1.5, "peak_mib": 500.0 * peak,
             "n_data_passes": 100, **{c: curvlinops_ratio for c in ("matvec_ratio_float32", "block_ratio_float32",
                                                                     "matvec_ratio_float64", "block_ratio_float64")}}]
    return rows


def _write(folder, rows):
    (folder / "benchmarks").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "benchmarks" / "eigensolver.csv", index=False)
    return folder


def test_benchmark_peers_compares_each_peer_with_ours_and_the_paper(tmp_path):
    from gradsub.report import performance

    assert performance.benchmark_peers(tmp_path).empty  # nothing committed
    folder = _write(tmp_path, _peer_rows(10_000, 1.5, 2.0))
    row = performance.benchmark_peers(folder).iloc[0]
    assert row["peer"] == "curvlinops" and row["N"] == 10_000
    assert (row["time / paper"], row["time / ours cold"], row["time / ours warm"]) == (1.5, 3.0, 6.0)
    assert (row["peak / ours cold"], row["passes / ours cold"], row["products / ours cold"]) == (2.0, 10.0, 1.0)
    assert row["per product / ours, float64 block"] == 1.5
    # The hessian-eigenthings rows are missing: this configuration is listed, one without rows is not.
    assert performance.peers_missing(folder) == ["ppo actor at 10^4"]


@pytest.mark.parametrize("ratio, peak, replace", [(1.05, 1.0, True), (1.2, 1.0, False), (1.05, 1.5, False)])
def test_operator_verdict_applies_the_issues_ten_percent_rule(tmp_path, ratio, peak, replace):
    from gradsub.report import performance

    folder = _write(tmp_path, _peer_rows(10_000, 1.0, 1.0) + _peer_rows(100_000, ratio, peak))
    verdict = performance.operator_verdict(folder)
    # Every configuration must pass: the worst one (N = 10^5 here, or 10^4 when it is the slower) decides.
    assert verdict["replace"] is replace and verdict["measured"] == 2
    assert verdict["slowest"] == max(ratio, 1.0) and verdict["peak_high"] == max(peak, 1.0)
    summary = performance.peers_summary(folder)
    assert summary["short"] == "none"  # every residual of _peer_rows is 1e-5, within tol
    sentence = summary["verdict"]
    assert ("should use it" in sentence) is replace and ("keeps its own product" in sentence) is not replace
    assert performance.operator_verdict(tmp_path / "nothing")["replace"] is False


def test_peers_summary_names_a_peer_that_missed_the_tolerance(tmp_path):
    from gradsub.report import performance

    rows = _peer_rows(10_000, 1.5, 2.0)
    rows[-1]["max_residual_float64"] = 2e-4  # the curvlinops row
    summary = performance.peers_summary(_write(tmp_path, rows))
    assert summary["short"] == "curvlinops, ppo actor at 10^4: 2.0e-04"
    assert summary["curvlinops"].startswith("curvlinops took 3.00x the time of our cold solve")
    assert summary["hessian-eigenthings"] == "hessian-eigenthings: not measured yet"
