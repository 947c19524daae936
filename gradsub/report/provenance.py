"""Where the data come from: the manifest, which runs cover which tasks, what each job cost, versions."""

from __future__ import annotations

import json

import pandas as pd

from gradsub import profiles, results, tasks
from gradsub.plots import steps_label
from gradsub.report.data import RUN, data_dir, import_quietly, load_tables

__all__ = ["BOOK_PROFILE", "at_current_settings", "book_tables", "cache_megabytes", "campaign_hours", "coverage",
           "evidence", "evidence_line", "job_costs", "job_plans", "manifest_view", "package_versions",
           "throughput_windows", "training_rates"]


def at_current_settings(manifest: pd.DataFrame) -> pd.Series:
    """Whether each run's parameters hash is the one its job has under today's registry (a run made
    with an earlier profile, or other settings, is not; the sweep would redo it). Rows of other
    profiles than the registry's (such as a scale-validation grid) are not jobs: False."""
    Job = import_quietly("gradsub.job").Job

    current = [profile in profiles.PROFILES
               and results.params_hash(Job.from_params(json.loads(params)).params()) == stored
               for profile, params, stored in zip(manifest["profile"], manifest["params"], manifest["params_hash"])]
    return pd.Series(current, index=manifest.index, dtype=bool)


# The profile of the runs the figures and claims rest on; the long profile's runs are set beside them
# on the scale page.
BOOK_PROFILE = "cpu"


def book_tables(folder=None, profile: str = BOOK_PROFILE) -> dict[str, pd.DataFrame]:
    """The tables (``data.load_tables``) restricted to the runs the figures and claims rest on: those of
    ``profile`` whose manifest row is ``ok`` and at today's settings. A run of an earlier protocol waits
    for the sweep to redo it; the provenance page lists it."""
    tables = load_tables(folder)
    manifest = tables["manifest"]
    manifest = manifest[(manifest["profile"] == profile) & (manifest["status"] == "ok")]
    manifest = manifest[at_current_settings(manifest).to_numpy()]
    runs = manifest[RUN].astype({"seed": "int64"})
    kept = {name: frame.astype({"seed": "int64"}).merge(runs, on=RUN) for name, frame in tables.items()
            if name != "manifest"}
    return {**kept, "manifest": manifest}


def coverage(manifest: pd.DataFrame) -> pd.DataFrame:
    """Which task x algo has finished runs in ``data/``: one row per registered task and algorithm,
    with how many of them were made at the registry's current settings."""
    ok = manifest[manifest["status"] == "ok"]
    ok = ok.assign(current=at_current_settings(ok))
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            runs = ok[(ok["task"] == name) & (ok["algo"] == algo)]
            rows.append({"task": name, "algo": algo, "runs": len(runs),
                         "at current settings": int(runs["current"].sum()),
                         "profiles": ", ".join(sorted(set(runs["profile"]))) or "-",
                         "seeds": ", ".join(sorted(set(runs["seed"]), key=int)) or "-"})
    return pd.DataFrame(rows)


def manifest_view(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest without its long JSON columns (the file has them)."""
    columns = ["run_id", "status", "params_hash", "git_commit", "finished_utc", "wall_seconds", "machine", "error"]
    view = manifest[columns].copy()
    view["git_commit"] = view["git_commit"].str.slice(0, 12)
    return view


def job_costs(timings: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Minutes per job and stage: training (every session), sampling, eigensolves, full spectra, their
    total, and the wall time of the job's last invocation (the manifest's ``wall_seconds``).

    A job that resumed or reused cached analyses still counts each stage's time when it was done, so
    the stage total is the job's cost, unlike the last invocation's wall time. The stages leave out
    loading checkpoints, gradient fractions, overlaps and writing caches and tables; for a job that
    trained and analysed in one invocation the wall time includes them (it is the whole job).
    """
    columns = ["train_minutes", "samples_minutes", "solve_minutes", "spectrum_minutes"]
    if timings.empty:
        return pd.DataFrame(columns=RUN + columns + ["total_minutes", "last_run_minutes"])
    stage = timings["stage"].str.split("/").str[0]
    minutes = timings.assign(stage=stage).pivot_table(index=RUN, columns="stage", values="seconds",
                                                     aggfunc="sum", fill_value=0.0) / 60
    minutes = minutes.rename(columns=lambda c: f"{c}_minutes").reindex(columns=columns, fill_value=0.0)
    costs = minutes.assign(total_minutes=minutes.sum(axis=1)).rename_axis(columns=None).reset_index()
    # one manifest row per run, read as text
    wall = manifest[RUN + ["wall_seconds"]].astype({"seed": "int64", "wall_seconds": "float64"})
    costs = costs.merge(wall, on=RUN, how="left", validate="one_to_one")
    return costs.assign(last_run_minutes=costs.pop("wall_seconds") / 60).round(1)


def cache_megabytes(solver_stats: pd.DataFrame) -> pd.DataFrame:
    """Per run, the disk its analysis cache takes (``job.analysis_cache``): each solve's k eigenvectors of
    n_params float64 entries, for every checkpoint, network and Hessian. The tables beside them in the cache
    are a few kB."""
    sizes = solver_stats.assign(cache_mb=solver_stats["k"] * solver_stats["n_params"] * 8 / 2**20)
    return sizes.groupby(RUN, as_index=False)["cache_mb"].sum().astype({"seed": "int64"}).round({"cache_mb": 0})


def training_rates(timings: pd.DataFrame, manifest: pd.DataFrame, folder=None) -> pd.DataFrame:
    """Per ``ok`` run of a table profile (cpu, long) at today's settings: its learning steps (SAC's
    random warm-up, ``learning_starts``, updates nothing and is left out), the training stage's minutes over every
    session, its learning steps per second, the short-window rate the plan assumed for the job
    (``data/benchmarks/plan_inputs.csv``, written by ``benchmarks/plan_cpu.py``) and their ratio: how
    close a whole job's training, with its evaluations and checkpoint saves, comes to the short window."""
    columns = RUN + ["learning_steps", "train_minutes", "steps_per_s", "short_window_steps_per_s", "ratio"]
    path = (folder or data_dir()) / "benchmarks" / "plan_inputs.csv"
    runs = manifest[manifest["profile"].isin(profiles.TABLE_PROFILES) & (manifest["status"] == "ok")]
    runs = runs[at_current_settings(runs).to_numpy()]
    if runs.empty or not path.exists():
        return pd.DataFrame(columns=columns)
    inputs = pd.read_csv(path)
    short = inputs[inputs["quantity"] == "rate"].set_index(["task", "algo"])["value"]
    train = timings[timings["stage"] == "train"].astype({"seed": "int64"}).groupby(RUN)["seconds"].sum()
    rows = []
    for run in runs.itertuples():
        total = json.loads(run.params)["settings"]["total_steps"]
        warmup = tasks.warmup_steps(run.task, run.algo)
        seconds = train.get((run.task, run.algo, int(run.seed), run.profile), float("nan"))
        rate, window = (total - warmup) / seconds, short.get((run.task, run.algo), float("nan"))
        rows.append({"task": run.task, "algo": run.algo, "seed": int(run.seed), "profile": run.profile,
                     "learning_steps": total - warmup, "train_minutes": seconds / 60, "steps_per_s": rate,
                     "short_window_steps_per_s": window, "ratio": rate / window})
    return pd.DataFrame(rows, columns=columns).round({"train_minutes": 1, "steps_per_s": 1,
                                                      "short_window_steps_per_s": 1, "ratio": 2})


def throughput_windows(folder=None) -> pd.DataFrame:
    """The training-throughput benchmarks that timed whole runs beside the short window
    (``data/benchmarks/throughput*.csv`` with "whole" rows, ``benchmarks/throughput.py --whole-steps``):
    per benchmark file, (task, algo), environment setting and number of processes side by side, the
    steps of each window, the mean rate per process in each, and the mean of each process's whole over
    short. A process whose whole run ran under cProfile (``--profile-whole``: process 0) is left out of
    the whole-run columns, as the profiler slows it."""
    columns = ["benchmark", "task", "algo", "env", "processes", "short_steps", "whole_steps",
               "short_steps_per_s", "whole_steps_per_s", "ratio"]
    rows = []
    for path in sorted(((folder or data_dir()) / "benchmarks").glob("throughput*.csv")):
        frame = pd.read_csv(path)
        if "window" not in frame or not (frame["window"] == "whole").any():
            continue
        if "profiled" not in frame:  # tables written before the column: the command says
            command = json.loads(path.with_suffix(".json").read_text())["command"]
            frame["profiled"] = ("--profile-whole" in command) & (frame["process"] == 0)
        frame = frame.assign(env=frame["env"].astype(object).fillna("") if "env" in frame else "")
        keys = ["task", "algo", "env", "parallel"]
        for key, group in frame.groupby(keys, sort=False):
            short = group[group["window"] == "short"]
            whole = group[(group["window"] == "whole") & ~group["profiled"].astype(bool)]
            if short.empty or whole.empty:
                continue
            rows.append({"benchmark": path.stem, **dict(zip(keys[:3], key)), "processes": int(key[3]),
                         "short_steps": int(short["steps"].iloc[0]), "whole_steps": int(whole["steps"].iloc[0]),
                         "short_steps_per_s": short["steps_per_s"].mean(),
                         "whole_steps_per_s": whole["steps_per_s"].mean(),
                         "ratio": whole["whole_over_short"].mean()})
    return pd.DataFrame(rows, columns=columns).round({"short_steps_per_s": 1, "whole_steps_per_s": 1, "ratio": 2})


def campaign_hours(costs: pd.DataFrame, plans: pd.DataFrame, profile: str = BOOK_PROFILE,
                   side_by_side: int = 2) -> dict[str, float]:
    """The runs of ``profile`` at the current protocol: how many, their job-hours in all (each job's
    larger of its stage total and its last run, as ``job_costs``) and the machine's hours with
    ``side_by_side`` jobs at a time."""
    runs = costs.merge(plans[RUN + ["current"]], on=RUN)
    runs = runs[(runs["profile"] == profile) & runs["current"]]
    job_hours = float(runs[["total_minutes", "last_run_minutes"]].max(axis=1).sum()) / 60
    return {"runs": len(runs), "job_hours": job_hours, "machine_hours": job_hours / side_by_side}


def job_plans(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per run: whether it was made at the registry's current settings and, for such runs of a table
    profile (cpu, long), the minutes its profile's table plans for its job (``profiles.planned_minutes``;
    NaN otherwise)."""
    runs = manifest[RUN].astype({"seed": "int64"}).assign(current=at_current_settings(manifest).to_numpy())
    planned = [profiles.planned_minutes(task, algo, profile) if current else None
               for task, algo, profile, current in runs[["task", "algo", "profile", "current"]].itertuples(index=False)]
    planned = [float("nan") if minutes is None else minutes for minutes in planned]
    return runs.assign(planned_minutes=planned).round(1)


def package_versions(manifest: pd.DataFrame) -> pd.DataFrame:
    """Package versions recorded with the runs: one row per package, one column per distinct set."""
    sets = sorted(set(manifest["packages"]))
    if not sets:
        return pd.DataFrame(columns=["package"])
    frames = {f"set {i + 1}": pd.Series(json.loads(s)) for i, s in enumerate(sets)}
    return pd.DataFrame(frames).rename_axis("package").reset_index()


def _span(values, fmt) -> str:
    low, high = min(values), max(values)
    return fmt(low) if low == high else f"{fmt(low)}-{fmt(high)}"


def evidence(used: pd.DataFrame, solver_stats: pd.DataFrame) -> dict[str, str]:
    """What a figure or a check rests on, against the paper's scale (its ``paper`` profile).

    used: the run columns and ``step`` of every checkpoint it uses (``t2`` for overlaps, renamed).
    solver_stats: the table whose precise-Hessian rows give each checkpoint's sample size N.
    Returns short texts by key: ``runs`` ("7 runs (PPO 4, SAC 3)"), ``tasks``, ``seeds`` (seeds per task
    and algorithm, and the paper's), ``steps`` (each run's last step used, and the paper's training
    length for those tasks), ``n`` (precise N, and the paper's), ``seed_count`` and ``most_seeds`` (the
    fewest and the most seeds of any task and algorithm, as numbers in text). Empty ``used``: every text
    says "none".
    """
    runs = used[RUN].drop_duplicates()
    if runs.empty:
        return dict.fromkeys(("runs", "tasks", "seeds", "steps", "n"), "none") | dict.fromkeys(
            ("seed_count", "most_seeds"), "0")
    by_algo = runs.groupby("algo").size()
    per_job = runs.groupby(["task", "algo"])["seed"].nunique()
    paper = {(t, a): profiles.get_profile(t, a, "paper") for t, a in per_job.index}
    last = used.groupby(RUN)["step"].max()
    paper_steps = [tasks.algo_config(t, a).paper_steps for t, a in per_job.index]
    precise = solver_stats[solver_stats["hessian"] == "precise"].merge(used[RUN + ["step"]].drop_duplicates(),
                                                                       on=RUN + ["step"])
    paper_n = sorted({p.n_precise for p in paper.values()})
    sac_note = ", SAC the whole replay buffer up to that" if "sac" in by_algo.index else ""
    n_text = (f"N = {_span(precise['n_samples'], lambda v: f'{v:,}')}" if len(precise) else "N unknown") \
        + f" (the paper: {_span(paper_n, lambda v: f'{v:,}')}{sac_note})"
    return {
        "runs": f"{len(runs)} runs (" + ", ".join(f"{a.upper()} {c}" for a, c in by_algo.items()) + ")",
        "tasks": f"{runs['task'].nunique()} of {len(tasks.TASKS)} tasks ({', '.join(sorted(set(runs['task'])))})",
        "seeds": f"{_span(per_job, str)} seed{'s' if per_job.max() > 1 else ''} per task and algorithm "
                 f"(the paper: {_span([p.n_seeds for p in paper.values()], str)})",
        "steps": f"checkpoints up to {_span(last, steps_label)} steps "
                 f"(the paper trains these to {_span(paper_steps, steps_label)})",
        "n": n_text,
        "seed_count": str(int(per_job.min())),
        "most_seeds": str(int(per_job.max())),
    }


def evidence_line(used: pd.DataFrame, solver_stats: pd.DataFrame, *, spread: bool = True) -> str:
    """One sentence: what a page rests on (``evidence``), and, for a page that draws spreads over seeds
    (``spread``), where it can draw them (a task and algorithm with two seeds or more) and where not."""
    if used.empty:
        return "No analysed runs yet: the figures below are placeholders."
    e = evidence(used, solver_stats)
    text = f"This page rests on {e['runs']} on {e['tasks']}; {e['seeds']}; {e['steps']}; {e['n']}."
    if not spread:
        return text
    if int(e["most_seeds"]) < 2:
        return text + " With one seed there is no spread to show: no error bars or bands are drawn."
    text += " Values are means over seeds; error bars and bands are one standard deviation over seeds"
    if int(e["seed_count"]) < 2:
        return text + ", drawn only where a task and algorithm has two seeds or more."
    return text + "."
