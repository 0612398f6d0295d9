"""`python -m snail.report` (snail/report.py), the papers' numbers (snail/paper.py) and the statistics over seeds
(snail.metrics.seed_stats). Tiny runs trained once per module: two models x two seeds on 5-armed bandits of 10
pulls, and one run on 3-armed bandits (another env cell)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from omegaconf import OmegaConf

from snail import report as snail_report
from snail.config import schemas
from snail.evaluation.score import evaluate_baseline
from snail.metrics import iqm, mean_ci_t, seed_stats, stratified_bootstrap_ci, t_quantile_975
from snail.paper import paper_rows
from snail.train import train

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--trials", "24", "--tune-trials", "8", "--num-envs", "12"]
SETTINGS = {"trials": 24, "tune_trials": 8, "num_envs": 12}


def tiny_run(path: Path, model: str, seed: int, extra=()) -> Path:
    """Two PPO updates of 4 trials of 10 pulls, evaluating every update."""
    train(schemas.compose_config("config", [
        "env=bandit", "env.pulls=10", f"model={model}", f"seed={seed}", "algo.num_envs=4", "algo.minibatch_trials=2",
        "algo.epochs=1", "run.eval_every=1", "run.eval_trials=4", "run.checkpoint_every=1", "run.progress=false",
        "run.total_env_steps=80", *extra]), path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    multirun = root / "multirun"
    for model in ("snail", "lstm"):
        for seed in (0, 1):
            tiny_run(multirun / f"model-{model}__seed-{seed}", model, seed)
    other = tiny_run(root / "arms3" / "snail", "snail", 0, ["env.arms=3"])
    return {"root": root, "multirun": multirun, "other": other.parent}


@pytest.fixture(scope="module")
def made(runs):
    """The report of all five runs, made once by the command's main()."""
    out = runs["root"] / "out"
    assert snail_report.main([str(runs["multirun"]), str(runs["other"]), "--out", str(out), *ARGS]) == 0
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), out


def _cell(report, label):
    return next(c for c in report["cells"] if c["label"] == label)


def _agent_metrics(run_dir: Path) -> dict:
    evaluation = json.loads((Path(run_dir) / "evaluation.json").read_text())
    return next(r for r in evaluation["rows"] if r["kind"] == "agent")["metrics"]


# --------------------------------------------------------------------------------------------------- report


def test_table_means_and_cis_match_a_hand_computation(runs, made):
    report, markdown, _ = made
    assert [c["label"] for c in report["cells"]] == ["bandit: arms=3, pulls=10", "bandit: arms=5, pulls=10"]
    cell = _cell(report, "bandit: arms=5, pulls=10")
    assert [g["model"] for g in cell["models"]] == ["lstm", "snail"]
    for group in cell["models"]:
        assert group["seeds"] == [0, 1]
        dirs = [runs["multirun"] / f"model-{group['model']}__seed-{s}" for s in (0, 1)]
        returns = [_agent_metrics(d)["return"] for d in dirs]  # each run's mean over the 24 trials
        mean = (returns[0] + returns[1]) / 2
        ci = 12.7062 * abs(returns[0] - returns[1]) / math.sqrt(2) / math.sqrt(2)  # t(0.975, 1 df) * sd / sqrt(2)
        stats = group["metrics"]["return"]
        assert stats["per_seed"] == returns
        assert stats["mean"] == pytest.approx(mean, abs=1e-12) and stats["ci95"] == pytest.approx(ci, abs=1e-12)
        assert stats["iqm"] == pytest.approx(mean, abs=1e-12)  # 2 seeds: nothing trimmed
        assert min(returns) <= stats["iqm_ci95"][0] <= stats["iqm_ci95"][1] <= max(returns)
        regrets = [_agent_metrics(d)["regret"] for d in dirs]
        assert group["metrics"]["regret"]["mean"] == pytest.approx(np.mean(regrets), abs=1e-12)
        section = next(part for part in markdown.split("\n## ") if part.startswith("bandit: arms=5, pulls=10"))
        row = next(line for line in section.splitlines() if line.startswith(f"| **{group['model']}** |"))
        assert f"| {mean:.2f} ± {ci:.2f} |" in row
        assert f"s0 {returns[0]:.2f}, s1 {returns[1]:.2f}" in row
        for run, run_dir in zip(group["runs"], dirs, strict=True):  # best.pt: the update of the best evaluation
            assert run["checkpoint"] == "best.pt" and run["finished"] and run["env_steps"] in (40, 80)
            assert run["env_steps"] == json.loads((run_dir / "evaluation.json").read_text())["env_steps"]
    other = _cell(report, "bandit: arms=3, pulls=10")
    assert [g["model"] for g in other["models"]] == ["snail"] and other["models"][0]["metrics"]["return"]["n"] == 1
    # One seed: no spread over seeds, so the run's CI over its trials, marked.
    run = other["models"][0]["runs"][0]
    single = f"| {run['metrics']['return']:.2f} ± {run['metrics_ci95']['return']:.2f} † |"
    assert single in markdown and "†: one seed only" in markdown


def test_baselines_play_the_same_trials_once_per_cell(made):
    report, markdown, _ = made
    for cell in report["cells"]:
        assert [r["policy"] for r in cell["baselines"]] == ["random", "ucb1", "thompson", "gittins", "oracle_bayes"]
        options = {k: v for k, v in cell["env"].items() if k not in ("name", "id")}
        by_hand = evaluate_baseline("oracle_bayes", "bandit", options, 24, 0, 12, 8)[1]["trial_return"].mean()
        assert cell["baselines"][-1]["metrics"]["return"] == pytest.approx(by_hand, abs=1e-12)
        assert cell["eval_seeds"] == {"first": 10**9, "last": 10**9 + 23}
    assert "| oracle_bayes | baseline |" in markdown and "| gittins (gamma=" in markdown


def test_paper_numbers_sit_next_to_their_cell(made):
    report, markdown, _ = made
    rows = _cell(report, "bandit: arms=5, pulls=10")["paper"]["rows"]
    assert rows == [{"policy": "SNAIL (paper)", "metrics": {"return": 6.6, "return_ci95": 0.1}},
                    {"policy": "RL² (paper)", "metrics": {"return": 6.7}}]
    assert _cell(report, "bandit: arms=3, pulls=10")["paper"] is None  # a cell the papers did not run
    assert "| SNAIL (paper) | paper | - | 6.60 ± 0.10 | - |" in markdown


def test_figure_has_two_panels_per_cell(made):
    report, markdown, out = made
    for cell in report["cells"]:
        assert cell["figure"] and f"![learning curves]({cell['figure']})" in markdown
        assert mpimg.imread(out / cell["figure"]).shape[:2] == (450, 1200)


def test_same_seed_same_numbers(runs, tmp_path):
    multirun = shutil.copytree(runs["multirun"], tmp_path / "multirun")  # their evaluation.json get rewritten

    def cells(out, *args):
        snail_report.build_report([multirun], tmp_path / out, **{**SETTINGS, "figures": False},
                                  log=lambda *a: None, **dict(args))
        return json.loads((tmp_path / out / "report.json").read_text())["cells"]

    first, again, other = cells("a"), cells("b"), cells("c", ("seed", 1))
    assert first == again
    assert first[0]["models"][0]["metrics"] != other[0]["models"][0]["metrics"]


def test_reuse_reads_up_to_date_evaluations_only(runs, made, monkeypatch):
    out = made[2]
    paths = [str(runs["multirun"]), str(runs["other"])]
    # Other tests may have evaluated the runs with other settings since: bring evaluation.json up to date.
    snail_report.build_report(paths, out, **SETTINGS, reuse=True, figures=False, log=lambda *a: None)
    evaluated = []
    real = snail_report.evaluate_run
    monkeypatch.setattr(snail_report, "evaluate_run", lambda cfg, log: evaluated.append(cfg["run"]) or real(cfg, log))

    def no_baselines(*args, **kwargs):
        raise AssertionError("baselines replayed despite --reuse")

    monkeypatch.setattr(snail_report, "evaluate_baseline", no_baselines)
    snail_report.build_report(paths, out, **SETTINGS, reuse=True, figures=False, log=lambda *a: None)
    assert evaluated == []
    again = json.loads((out / "report.json").read_text())
    assert [c["models"] for c in again["cells"]] == [c["models"] for c in made[0]["cells"]]
    checkpoint = runs["multirun"] / "model-lstm__seed-1" / "best.pt"
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the checkpoint file changed
    snail_report.build_report(paths, out, **SETTINGS, reuse=True, figures=False, log=lambda *a: None)
    assert evaluated == [str(checkpoint)]
    with pytest.raises(AssertionError, match="baselines replayed"):  # other trials: nothing is reused
        snail_report.build_report(paths, out, **{**SETTINGS, "trials": 20}, reuse=True, figures=False,
                                  log=lambda *a: None)


def test_include_adds_an_earlier_reports_groups_as_they_were(runs, made, tmp_path):
    """A report of the LSTM runs and the 3-armed cell, included into a report of the SNAIL runs, gives the table
    of all five runs made at once: the same numbers, the included groups marked with their source."""
    multirun = runs["multirun"]
    earlier = tmp_path / "earlier"
    snail_report.build_report([multirun / "model-lstm__seed-0", multirun / "model-lstm__seed-1", runs["other"]],
                              earlier, **SETTINGS, figures=False, log=lambda *a: None)
    included = str(earlier / "report.json")
    assert snail_report.main([str(multirun / "model-snail__seed-0"), str(multirun / "model-snail__seed-1"),
                              "--include", included, "--out", str(tmp_path / "both"), "--no-figures", *ARGS]) == 0
    both = json.loads((tmp_path / "both" / "report.json").read_text())
    assert [c["label"] for c in both["cells"]] == [c["label"] for c in made[0]["cells"]]
    assert both["settings"]["runs"] == made[0]["settings"]["runs"] == 5
    assert both["settings"]["included"] == [included]
    for cell, reference in zip(both["cells"], made[0]["cells"], strict=True):
        assert [g.get("source") for g in cell["models"]] == [
            None if g["model"] == "snail" and cell["label"].endswith("arms=5, pulls=10") else included
            for g in reference["models"]]
        assert [{k: v for k, v in g.items() if k != "source"} for g in cell["models"]] == reference["models"]
        assert cell["baselines"] == reference["baselines"]
    markdown = (tmp_path / "both" / "report.md").read_text()
    assert "| **lstm** ‡ | 2 |" in markdown and "| **snail** | 2 |" in markdown
    assert f"‡: as evaluated in an earlier report (`{included}`)" in markdown


# --------------------------------------------------------------------------------------------------- errors


def _copy(src: Path, dst: Path, edit=None) -> Path:
    shutil.copytree(src, dst)
    if edit is not None:
        cfg = OmegaConf.to_container(OmegaConf.load(dst / "config.yaml"))
        edit(cfg)
        OmegaConf.save(OmegaConf.create(cfg), dst / "config.yaml")
    return dst


def _no_checkpoints(runs, tmp_path):
    run = _copy(runs["multirun"] / "model-snail__seed-0", tmp_path / "run")
    for name in ("best.pt", "last.pt"):
        (run / name).unlink()
    return [str(run)]


def _other_lr(runs, tmp_path):
    _copy(runs["multirun"] / "model-snail__seed-1", tmp_path / "lr" / "seed-1",
          lambda cfg: cfg["algo"].update(lr=0.5))
    return [str(runs["multirun"] / "model-snail__seed-0"), str(tmp_path / "lr")]


def _twin_seed(runs, tmp_path):
    _copy(runs["multirun"] / "model-snail__seed-0", tmp_path / "copy")
    return [str(runs["multirun"]), str(tmp_path / "copy")]


def _empty(runs, tmp_path):
    tmp_path.mkdir()
    return [str(tmp_path)]


def _report_json(runs, tmp_path, **settings):
    """A report.json holding a SNAIL group of the 5-armed cell, made with the tests' settings unless changed."""
    env = OmegaConf.to_container(OmegaConf.load(runs["multirun"] / "model-snail__seed-0" / "config.yaml"))["env"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"settings": {"checkpoint": "best", "trials": 24, "seed": 0, "num_envs": 12,
                                             **settings},
                                "cells": [{"env": env, "label": "bandit: arms=5, pulls=10",
                                           "models": [{"model": "snail"}]}]}))
    return path


def _include_other_trials(runs, tmp_path):
    return [str(runs["other"]), "--include", str(_report_json(runs, tmp_path, trials=1000))]


def _include_a_group_twice(runs, tmp_path):
    return [str(runs["multirun"]), "--include", str(_report_json(runs, tmp_path))]


ERRORS = {
    "missing folder": (lambda runs, tmp: [str(tmp / "nope")], "does not exist"),
    "folder without runs": (_empty, "no run folders"),
    "run without checkpoints": (_no_checkpoints, "has no checkpoint (expected best.pt or last.pt)"),
    "one group, two learning rates": (_other_lr, "differ in algo.lr: 0.002 in"),
    "one group, one seed twice": (_twin_seed, "have the same seed 0"),
    "included report of other trials": (_include_other_trials,
                                        "was made with trials=1000, this report uses trials=24: include only reports "
                                        "of the same checkpoint, trials, seed, num_envs"),
    "included group also among the runs": (_include_a_group_twice, "/ 'snail' is both in --include"),
    "included report missing": (lambda runs, tmp: [str(runs["other"]), "--include", str(tmp / "no.json")],
                                "no.json' does not exist"),
    "bad --trials": (lambda runs, tmp: [str(runs["other"]), "--trials", "0"],
                     "--trials=0 is invalid: expected an integer >= 1"),
    "bad --checkpoint": (lambda runs, tmp: [str(runs["other"]), "--checkpoint", "final"],
                         "argument --checkpoint: invalid choice: 'final' (choose from 'best', 'last')"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line_with_status_1(runs, tmp_path, capsys, case):
    make_args, needle = ERRORS[case]
    args = make_args(runs, tmp_path / "in")
    try:
        status = snail_report.main([*ARGS, "--out", str(tmp_path / "out"), *args])
    except SystemExit as exc:  # argparse's errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and err.startswith("snail.report: error: ") and needle in err, err
    assert not (tmp_path / "out").exists()


def test_command_line_exits_with_status_1_and_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snail.report", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"snail.report: error: no run folders (config.yaml with tb/ or "
                                                f"metrics.jsonl) in {str(tmp_path)!r}"]


# ------------------------------------------------------------------------------------------ groups, paper


def test_model_groups_name_the_options_that_differ_from_the_default():
    def label(env, *overrides):
        cfg = schemas.compose_config("config", [f"env={env}", *overrides])
        return snail_report.model_label(env, OmegaConf.to_container(cfg.model))

    assert label("bandit", "model=lstm") == "lstm"
    assert label("bandit", "model=lstm", "model.cell=gru") == "lstm (cell=gru)"
    assert label("maze", "model=snail") == "snail"  # the maze's own preset is its default there
    assert label("bandit", "model=snail", "model.preset=maze") == "snail (preset=maze)"


def test_cell_labels():
    assert snail_report.cell_label("bandit", {"arms": 5, "pulls": 100}) == "bandit: arms=5, pulls=100"
    maze = {"preset": "large", "size": None, "episode_steps": None, "episodes": 2, "actions": "cardinal",
            "view_size": 3, "observe_position": False}
    assert snail_report.cell_label("maze", maze) == "maze: preset=large, actions=cardinal"
    assert snail_report.cell_slug("maze", maze) == "maze_preset-large_actions-cardinal"


def test_cells_sort_numbers_by_value():
    cells = [("bandit", (("arms", 10), ("pulls", 10))), ("bandit", (("arms", 5), ("pulls", 100))),
             ("maze", (("preset", "small"), ("size", None))), ("bandit", (("arms", 5), ("pulls", 10)))]
    assert sorted(cells, key=snail_report._natural) == [cells[3], cells[1], cells[0], cells[2]]


def test_paper_rows():
    bandit = paper_rows("bandit", {"arms": 50, "pulls": 500})["rows"]
    assert bandit[0]["metrics"] == {"return": 442.6, "return_ci95": 2.5} and bandit[1]["metrics"] == {"return": 438.9}
    mdp = {"states": 10, "actions": 5, "episode_length": 10, "episodes": 25}
    assert [r["metrics"] for r in paper_rows("tabular_mdp", mdp)["rows"]] == [{"normalized": 0.862},
                                                                             {"return": 445.7}]
    assert paper_rows("tabular_mdp", {**mdp, "states": 20}) is None
    maze = {"preset": "small", "size": None, "episode_steps": None, "episodes": 2}
    snail, rl2 = (r["metrics"] for r in paper_rows("maze", maze)["rows"])
    assert snail == {"steps_ep1": 50.3, "steps_ep2": 34.8, "steps_ep2_minus_ep1": -15.5}
    assert rl2["steps_ep1"] == 52.4 and rl2["steps_ep2"] == 39.1
    assert paper_rows("maze", {**maze, "size": 3}) is None and paper_rows("bandit", {"arms": 3, "pulls": 10}) is None


# ------------------------------------------------------------------------------------------ statistics


def test_t_quantiles():
    exact = {1: 12.7062, 2: 4.3027, 5: 2.5706, 10: 2.2281, 30: 2.0423, 1000: 1.9623}
    for df, value in exact.items():
        assert t_quantile_975(df) == pytest.approx(value, abs=3e-4), df
    assert mean_ci_t([1.0, 3.0]) == pytest.approx((2.0, 12.7062 * math.sqrt(2) / math.sqrt(2)))
    assert math.isnan(mean_ci_t([1.0])[1])
    with pytest.raises(ValueError, match="df=0 is invalid"):
        t_quantile_975(0)


def test_iqm_is_the_mean_of_the_middle_half():
    values = np.array([9.0, 1.0, 5.0, 3.0, 100.0, 4.0, 6.0, -50.0])
    assert iqm(values) == np.mean([3.0, 4.0, 5.0, 6.0])
    assert iqm([1.0, 2.0, 30.0]) == 11.0  # fewer than 4 values: nothing trimmed
    np.testing.assert_allclose(iqm(np.stack([values, values + 1]), axis=1), [4.5, 5.5])


def test_stratified_bootstrap_resamples_runs_within_each_task():
    scores = np.random.default_rng(1).normal(size=(5, 3))
    low, high = stratified_bootstrap_ci(scores, iqm, reps=300, seed=7)
    rows = np.random.default_rng(7).integers(5, size=(300, 5, 3))  # the same draws, one replicate at a time
    stats = [iqm(np.stack([scores[rows[r, :, t], t] for t in range(3)], axis=1)) for r in range(300)]
    assert (low, high) == pytest.approx(tuple(np.percentile(stats, [2.5, 97.5])), abs=1e-12)
    assert stratified_bootstrap_ci(scores, iqm, reps=300, seed=7) == (low, high)
    assert seed_stats([5.0, 5.0, 5.0]) == {"n": 3, "mean": 5.0, "ci95": 0.0, "iqm": 5.0, "iqm_ci95": [5.0, 5.0]}
