"""evaluate.py (snail.evaluation), learning-curve plots (snail.plot) and pictures (snail.evaluation.render).

Tiny runs trained once per module (a few updates of 4 trials); few evaluation trials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import matplotlib.figure
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

import snail
import snail.envs.maze as maze_module
from snail import plot
from snail.checkpoint import FORMAT, CheckpointError
from snail.config import schemas
from snail.envs import make_vector_env
from snail.envs.maze import MazeObsLayout
from snail.evaluation import EvaluationError, cli, evaluate, load_run, render
from snail.evaluation.baselines import BASELINES, DEFAULT_GRIDS, make_baseline
from snail.evaluation.score import evaluate_agent, evaluate_baseline
from snail.train import train
from snail.trials import EVAL_SEED_OFFSET

ROOT = Path(__file__).resolve().parents[1]
TINY_ENV = {"bandit": ["env.pulls=10"], "maze": ["env.size=3", "env.episode_steps=12"]}


def tiny_config(env, model, extra=()):
    """A few-second training run (as in test_train.py): 4 trials per update, evaluation every update."""
    return schemas.compose_config("config", [
        f"env={env}", f"model={model}", *TINY_ENV[env], "algo.num_envs=4", "algo.minibatch_trials=2",
        "algo.epochs=1", "run.eval_every=1", "run.eval_trials=4", "run.checkpoint_every=1",
        "run.progress=false", *extra])

FAST = {"trials": 24, "tune_trials": 12, "num_envs": 12}  # evaluation settings of these tests
MAZE = {"id": "snail/Maze-v0", "name": "maze", "preset": "small", "size": 3, "episode_steps": 30, "episodes": 2,
        "actions": "egocentric", "view_size": 3}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/model=snail,seed=0 and seed=1, model=lstm,seed=0 (bandit, 3 updates each); a maze Transformer run."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model, seed in (("snail", 0), ("snail", 1), ("lstm", 0)):
        path = root / "multirun" / f"model={model},seed={seed}"
        train(tiny_config("bandit", model, extra=[f"seed={seed}", "run.total_env_steps=120"]), path)
        out[f"{model}{seed}"] = path
    out["maze"] = root / "maze_transformer"
    train(tiny_config("maze", "transformer", extra=["run.total_env_steps=1", "model.n_layers=2",
                                                    "model.n_heads=2", "model.d_model=16"]), out["maze"])
    out["multirun"] = root / "multirun"
    return out


def eval_cfg(**kwargs):
    return {**FAST, "baseline": "none", **kwargs}


def png_shape(path):
    return mpimg.imread(path).shape[:2]


# ------------------------------------------------------------------------------------------------ evaluate


def test_run_and_every_baseline_on_the_same_trials(runs, tmp_path):
    report, out_dir = evaluate(eval_cfg(run=str(runs["snail0"]), baseline="all", out_dir=str(tmp_path)),
                               log=lambda *a: None)
    assert out_dir == tmp_path
    names = [r["policy"] for r in report["rows"]]
    assert names == ["snail", *BASELINES["bandit"]]
    assert [r["kind"] for r in report["rows"]] == ["agent"] + ["baseline"] * len(BASELINES["bandit"])
    assert report["seeds"] == {"first": EVAL_SEED_OFFSET, "last": EVAL_SEED_OFFSET + 23, "offset": EVAL_SEED_OFFSET}
    for row in report["rows"]:
        m = row["metrics"]
        assert m["trials"] == 24
        for key in ("return", "return_ci95", "regret", "regret_ci95", "best_arm_fraction"):
            assert np.isfinite(m[key]), (row["policy"], key)
    tuned = {r["policy"]: r["params"] for r in report["rows"] if r["policy"] in DEFAULT_GRIDS}
    assert tuned["gittins"]["gamma"] in DEFAULT_GRIDS["gittins"]["gamma"]
    oracle = next(r for r in report["rows"] if r["policy"] == "oracle")["metrics"]
    assert oracle["best_arm_fraction"] == 1.0

    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert [r["policy"] for r in saved["rows"]] == names
    assert saved["env"]["pulls"] == 10  # the run's env (env.pulls=10), not conf/env/bandit.yaml's 100
    md = (tmp_path / "evaluation.md").read_text()
    assert "| policy | settings | return | regret | best arm % |" in md
    for name in names:
        assert f"| {name} |" in md
    assert "gamma=" in md and f"{EVAL_SEED_OFFSET}..{EVAL_SEED_OFFSET + 23}" in md


def test_agent_and_baselines_see_identical_tasks(runs):
    run = load_run(runs["snail0"])
    agent = evaluate_agent(run.agent, run.env_id, run.env_options, trials=10, num_envs=4)
    _, base = evaluate_baseline("oracle", run.env_id, run.env_options, trials=10, num_envs=3)
    np.testing.assert_array_equal(agent["seed"], base["seed"])
    np.testing.assert_array_equal(agent["arm_probs"], base["arm_probs"])


def test_identical_seeds_identical_output(runs, tmp_path):
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        evaluate(eval_cfg(run=str(runs["snail0"]), baseline=["thompson", "ucb1"], seed=seed,
                          out_dir=str(tmp_path / name)), log=lambda *a: None)
        outs.append([(tmp_path / name / f"evaluation.{ext}").read_text() for ext in ("json", "md")])
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0]


def test_memory_ablation_replays_episode_one_when_memory_is_wiped(runs, tmp_path, monkeypatch):
    """The maze restarts every inner episode at the trial's start cell and heading, so a greedy agent whose
    memory is wiped at the inner-episode flag must see and compute in episode 2 exactly what it did in
    episode 1 (same logits, step by step); with its memory (the plain policy) episode 2's logits differ."""
    run = load_run(runs["maze"])
    step = run.agent.step
    logits_seen = []

    def recording_step(*args, **kwargs):
        out = step(*args, **kwargs)
        logits_seen.append(out[0].clone())
        return out

    monkeypatch.setattr(run.agent, "step", recording_step)
    for forget in (True, False):
        logits_seen.clear()
        results = evaluate_agent(run.agent, run.env_id, run.env_options, trials=6, num_envs=6, greedy=True,
                                 forget_between_episodes=forget)
        assert (results["episode_lengths"] == 12).all()  # untrained: both episodes hit the 12-step cap
        episode_1, episode_2 = torch.stack(logits_seen[:12]), torch.stack(logits_seen[12:24])
        assert torch.allclose(episode_1, episode_2, atol=1e-5) == forget
    monkeypatch.undo()

    report, _ = evaluate(eval_cfg(run=str(runs["maze"]), memory_ablation=True, out_dir=str(tmp_path)),
                         log=lambda *a: None)
    assert [r["policy"] for r in report["rows"]] == ["transformer", "transformer (memory wiped each episode)"]
    assert report["rows"][1]["params"]["memory_ablation"] is True
    assert "memory wiped" in (tmp_path / "evaluation.md").read_text()
    with pytest.raises(EvaluationError, match="memory_ablation=true needs a run"):
        evaluate({**FAST, "env": MAZE, "baseline": "random", "memory_ablation": True}, log=lambda *a: None)


def test_baseline_alone_from_the_hydra_config(tmp_path, capsys):
    cfg = schemas.compose_config("evaluate", ["env=bandit", "env.pulls=10", "baseline=ucb1", "trials=20",
                                              "tune_trials=10", f"out_dir={tmp_path}"])
    report = cli(cfg)
    assert [r["policy"] for r in report["rows"]] == ["ucb1"] and report["run"] is None
    assert set(report["rows"][0]["params"]) == {"c", "prior"}
    assert "ucb1" in capsys.readouterr().out
    assert (tmp_path / "evaluation.json").is_file() and (tmp_path / "evaluation.md").is_file()


def test_baseline_all_leaves_out_oracle_bayes_where_it_cannot_be_computed(tmp_path, capsys):
    base = ["env=bandit", "trials=8", "tune_trials=4", "num_envs=4", f"out_dir={tmp_path}"]
    report = cli(schemas.compose_config("evaluate", [*base, "env.pulls=100", "baseline=all"]))
    names = [r["policy"] for r in report["rows"]]
    assert names == [n for n in BASELINES["bandit"] if n != "oracle_bayes"]
    assert "note: baseline=all leaves out oracle_bayes: pulls=100 is out of range" in capsys.readouterr().out
    report = cli(schemas.compose_config("evaluate", [*base, "env.pulls=12", "baseline=all"]))
    assert [r["policy"] for r in report["rows"]] == BASELINES["bandit"]
    with pytest.raises(SystemExit) as exc:
        cli(schemas.compose_config("evaluate", [*base, "env.pulls=100", "baseline=oracle_bayes"]))
    assert str(exc.value.code) == ("evaluate: error: oracle_bayes: pulls=100 is out of range: the exact "
                                   "Bayes-optimal policy is computed for pulls 1..15 (its states grow "
                                   "exponentially with pulls)")


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.yaml", "best.pt", "last.pt"):
        shutil.copy(src / name, dst / name)
    return dst


def _edit_config(run_dir: Path, edit) -> None:
    cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    edit(cfg)
    OmegaConf.save(OmegaConf.create(cfg), run_dir / "config.yaml")


def _rename(section, old, new):
    def edit(cfg):
        cfg[section][new] = cfg[section].pop(old)
    return edit


BROKEN = {
    "missing folder": (None, "does not exist"),
    "folder without checkpoints": (lambda d: [(d / n).unlink() for n in ("best.pt", "last.pt")], "has no checkpoint"),
    "corrupt checkpoint": (lambda d: (d / "best.pt").write_bytes(b"\x80\x02garbage"), "not a readable checkpoint"),
    "foreign checkpoint": (lambda d: torch.save({"weights": torch.zeros(3)}, d / "best.pt"), "not a snail checkpoint"),
    "incomplete checkpoint": (lambda d: torch.save({"format": FORMAT}, d / "best.pt"), "not a complete"),
    "model option renamed": (lambda d: _edit_config(d, _rename("model", "embed_dim", "embed_size")),
                             "embed_size"),
    "weights of another shape": (lambda d: _edit_config(d, lambda c: c["model"].update(embed_dim=16)),
                                 "do not fit the model"),
    "env option renamed": (lambda d: _edit_config(d, _rename("env", "pulls", "num_pulls")), "num_pulls"),
    "env of another run": (lambda d: _edit_config(d, lambda c: c["env"].update(pulls=20)), "max_len"),
    "unreadable config": (lambda d: (d / "config.yaml").write_text("model: [unclosed\n"), "not a readable config"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_errors_are_one_line_messages(runs, tmp_path, case):
    breaker, needle = BROKEN[case]
    run_dir = tmp_path / "nope"
    if breaker is not None:
        run_dir = _copy_run(runs["snail0"], tmp_path / "run")
        breaker(run_dir)
    with pytest.raises((EvaluationError, CheckpointError), match=needle):
        load_run(run_dir)
    with pytest.raises(SystemExit) as exc:
        cli(OmegaConf.create(eval_cfg(run=str(run_dir), out_dir=str(tmp_path / "out"))))
    message = str(exc.value.code)
    assert message.startswith("evaluate: error: ") and "\n" not in message and needle in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs,needle", [
    ({"baseline": "psrl"}, "baseline='psrl' is invalid"),
    ({"checkpoint": "final"}, "checkpoint='final'"),
    ({"trials": 0}, "trials=0"),
    ({"colour": "red"}, "unknown evaluate option"),
])
def test_bad_options(runs, kwargs, needle):
    with pytest.raises(EvaluationError, match=needle):
        evaluate(eval_cfg(run=str(runs["snail0"]), **kwargs), log=lambda *a: None)


def test_command_line_error_exits_with_one_line(tmp_path):
    missing = tmp_path / "no_such_run"
    proc = subprocess.run([sys.executable, "evaluate.py", f"run={missing}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in proc.stderr
    assert not missing.exists()


# --------------------------------------------------------------------------------------------------- render


def _check_path(trial):
    """Consecutive cells are equal or neighbours with an open wall between them."""
    grid = trial["grid"]
    for path in trial["paths"]:
        np.testing.assert_array_equal(path[0], trial["start"])
        for (r0, c0), (r1, c1) in zip(path[:-1], path[1:], strict=True):
            assert abs(r1 - r0) + abs(c1 - c0) <= 1
            assert grid[r0 + r1 + 1, c0 + c1 + 1] != 1  # the square between the two cells (or the cell itself)


def test_record_trial_follows_the_env(tmp_path):
    kwargs = {k: v for k, v in MAZE.items() if k not in ("id", "name")}
    oracle = render.record_trial(make_baseline("oracle", "maze", 1, env_kwargs=kwargs), "maze", kwargs, trial=2)
    assert oracle["seed"] == EVAL_SEED_OFFSET + 2
    layout = MazeObsLayout(MAZE["view_size"], MAZE["size"])
    first_heading = layout.headings_of(oracle["obs"][:1])[0]  # the heading shown before the first action
    assert oracle["start_heading"] == first_heading and [h[0] for h in oracle["headings"]] == [first_heading] * 2
    assert oracle["success"].tolist() == [True, True]
    assert [len(p) - 1 for p in oracle["paths"]] == [oracle["shortest_path"]] * 2
    for path in oracle["paths"]:
        np.testing.assert_array_equal(path[-1], oracle["goal"])
    _check_path(oracle)
    explorer = render.record_trial(make_baseline("explorer", "maze", 1, env_kwargs=kwargs), "maze", kwargs, trial=2)
    _check_path(explorer)
    assert len(explorer["paths"][1]) - 1 == explorer["shortest_path"]
    assert len(explorer["obs"]) == len(explorer["actions"]) == sum(len(p) - 1 for p in explorer["paths"])


def test_render_maze_paths_gif_attention_and_video(runs, tmp_path):
    evaluate(eval_cfg(run=str(runs["maze"]), trials=4, render=True, attention=True, video=True,
                      out_dir=str(tmp_path)), log=lambda *a: None)
    videos = sorted(tmp_path.glob("trial_0.*"))
    assert [v.suffix for v in videos] in ([".gif"], [".mp4"]) and videos[0].stat().st_size > 1000
    if videos[0].suffix == ".gif":
        with Image.open(videos[0]) as video:  # the 3x3 maze: 7 x 7 squares of 16 pixels
            assert video.n_frames > 2 and video.size == (7 * 16, 7 * 16)
    # 2 panels of 4 x 4 inches and their colour bars (0.6 inches) at 100 dpi
    assert png_shape(tmp_path / "maze_paths.png") == (460, 800)
    # Transformer with 2 layers x 2 heads in the policy and value networks: 8 panels, 4 columns x 2 rows.
    # (4.5-inch panels, 1 inch for the colour bar, 100 dpi)
    assert png_shape(tmp_path / "attention.png") == (2 * 450, 4 * 450 + 100)
    assert mpimg.imread(tmp_path / "attention.png").std() > 0.01  # not blank
    with Image.open(tmp_path / "maze_paths.gif") as gif:
        assert gif.n_frames > 2 and gif.size == (320, 352)
    run = load_run(runs["maze"])
    trial = render.record_trial(render_policy(run), run.env_id, run.env_options)
    _check_path(trial)


def test_pictures_have_keys_and_name_the_inner_episode_starts(runs, monkeypatch):
    """maze_paths: a colour bar per panel (path colour = step); attention: one colour bar (probability) and
    ticks at the inner-episode starts, labelled."""
    figures = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: figures.append(fig))
    run = load_run(runs["maze"])
    trial = render.record_trial(render_policy(run), run.env_id, run.env_options)
    render.draw_maze_paths(trial, "unused.png")
    bars = [ax for ax in figures[0].axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2 and "step of the inner episode" in bars[0].get_xlabel()
    steps = len(trial["paths"][0]) - 1
    assert bars[0].get_xlim() == (1, steps)
    render.draw_attention(render.attention_maps(run.agent, trial), "unused.png", trial=trial)
    bars = [ax for ax in figures[1].axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "attention probability" in bars[0].get_ylabel()
    start = steps  # the second inner episode starts after the first one's steps
    panel = figures[1].axes[0]
    assert [t.get_text() for t in panel.get_xticklabels()] == ["step 0", f"episode 2 starts\n(step {start})"]
    assert list(panel.get_yticks()) == [0, start]


def test_video_frames_are_what_the_env_renders():
    """trial_frames of a recorded trial == the single env's rgb_array render after reset and after every step of
    the same trial, but for the frame where an inner episode ended: the video shows where the agent got to, the
    env shows it back at the start at once (the next frame of the video)."""
    kwargs = {k: v for k, v in MAZE.items() if k not in ("id", "name")}
    trial = render.record_trial(make_baseline("explorer", "maze", 1, env_kwargs=kwargs), "maze", kwargs, trial=1)
    frames = render.trial_frames(trial)
    env = gym.make("snail/Maze-v0", render_mode="rgb_array", **kwargs)
    env.reset(seed=trial["seed"])
    rendered = [env.render()]
    for action in trial["actions"]:
        env.step(int(action))
        rendered.append(env.render())
    episode_ends = np.cumsum([len(path) for path in trial["paths"]]) - 1  # last frame of each inner episode
    assert len(trial["paths"]) == 2 and trial["success"].all()
    keep = [i for i in range(len(frames)) if i not in episode_ends[:-1]]
    assert len(keep) == len(rendered) == len(trial["actions"]) + 1
    for i, picture in zip(keep, rendered, strict=True):
        np.testing.assert_array_equal(frames[i], picture, err_msg=f"frame {i}")
    goal_square = [2 * int(trial["goal"][0]) + 1, 2 * int(trial["goal"][1]) + 1]
    centre = tuple(frames[episode_ends[0]][goal_square[0] * 16 + 8, goal_square[1] * 16 + 8])
    assert centre == maze_module.MAZE_COLOURS["agent"]  # the agent on the goal at the end of episode 1


def render_policy(run):
    from snail.trials import AgentPolicy

    return AgentPolicy(run.agent, num_envs=1)


def test_attention_maps_are_causal_distributions(runs):
    run = load_run(runs["snail0"])
    trial = render.record_trial(render_policy(run), run.env_id, run.env_options)
    maps = render.attention_maps(run.agent, trial)
    assert [label for label, _ in maps] == ["policy attention block 1", "value attention block 1"]
    T = len(trial["actions"])
    for _, probs in maps:
        assert probs.shape == (1, T, T)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(probs[0], 1) == 0)


def test_attention_needs_a_model_with_attention(runs):
    with pytest.raises(EvaluationError, match="has no attention"):
        evaluate(eval_cfg(run=str(runs["lstm0"]), attention=True), log=lambda *a: None)


# ---------------------------------------------------------------------------------------------- load_policy


def play_single_envs(policy, seeds, trials_per_env=2, deterministic=True):
    """A plain Gymnasium loop: one `gymnasium.make` env per seed, `trials_per_env` trials in a row (reset(seed)
    then reset()), actions from `policy.predict`. Returns trial returns [len(seeds), trials_per_env] and the
    first trials' actions."""
    returns, actions = np.zeros((len(seeds), trials_per_env)), []
    for i, seed in enumerate(seeds):
        env = policy.make_env()
        for k in range(trials_per_env):
            obs, _ = env.reset(seed=int(seed) if k == 0 else None)
            action, state = policy.predict(obs, deterministic=deterministic)
            taken = []
            while True:
                taken.append(action)
                obs, reward, terminated, truncated, _ = env.step(action)
                returns[i, k] += reward
                if terminated or truncated:
                    break
                action, state = policy.predict(obs, state, reward=reward, deterministic=deterministic)
            if k == 0:
                actions.append(taken)
    return returns, actions


def play_vector_env(policy, seed, n, trials_per_row=2, deterministic=True):
    """The native vector env (NEXT_STEP autoreset) with batched `predict`: `trials_per_row` trials per row.
    Returns trial returns [n, trials_per_row]."""
    envs = make_vector_env(policy.env_id, n, policy.env_options)
    obs, _ = envs.reset(seed=seed)
    actions, state = policy.predict(obs, deterministic=deterministic)
    returns, trial, autoreset = np.zeros((n, trials_per_row)), np.zeros(n, int), np.zeros(n, bool)
    while (trial < trials_per_row).any():
        obs, reward, terminated, truncated, info = envs.step(actions)
        done = terminated | truncated
        for i in np.flatnonzero(done & (trial < trials_per_row)):
            returns[i, trial[i]] = info["trial_return"][i]
        trial += done
        actions, state = policy.predict(obs, state, episode_start=autoreset, reward=reward,
                                        deterministic=deterministic)
        autoreset = done
    return returns


def recording_logits(monkeypatch, agent) -> list:
    """Make `agent.step` append the logits it returns to the list returned."""
    seen, step = [], agent.step

    def recorded(*args, **kwargs):
        out = step(*args, **kwargs)
        seen.append(out[0].clone())
        return out

    monkeypatch.setattr(agent, "step", recorded)
    return seen


def test_predict_loops_give_evaluate_py_greedy_trials(runs, monkeypatch):
    """Greedy `predict` in a plain single-env loop and in a vector-env loop plays exactly the held-out trials of
    evaluate_agent(greedy=True): the agent computes the same logits step by step (so it was given the same
    observations, previous actions and rewards), takes the same actions and gets the same returns; the second
    trial of each env (after a reset / an autoreset) agrees between the two loops. The bandit's trials run the
    model's full length: the vector loop's autoreset step must not step past it."""
    policy = snail.load_policy(runs["snail0"])
    run = load_run(runs["snail0"])
    trials, steps = 6, 10
    expected_logits = recording_logits(monkeypatch, run.agent)
    expected = evaluate_agent(run.agent, run.env_id, run.env_options, trials=trials, num_envs=trials, greedy=True)
    single_logits = recording_logits(monkeypatch, policy.agent)
    single, actions = play_single_envs(policy, expected["seed"])
    np.testing.assert_array_equal(single[:, 0], expected["trial_return"])
    np.testing.assert_array_equal(actions, expected["actions"])
    assert len(np.unique(actions)) > 1  # the agent's choices vary
    first_trials = torch.stack(single_logits).view(trials, 2, steps, -1)[:, 0]  # [env, step, action]
    torch.testing.assert_close(first_trials, torch.stack(expected_logits).transpose(0, 1), rtol=0, atol=1e-5)
    vector = play_vector_env(policy, EVAL_SEED_OFFSET, trials)
    np.testing.assert_allclose(vector, single, rtol=0, atol=1e-9)  # float32 info sums vs float64 sums


def test_sampling_predict_gives_evaluate_py_sampled_trials(runs):
    """With the same seed, sampling `predict` draws what evaluate_agent's policy draws: a single env playing
    the trials one after another (evaluate_agent with num_envs=1), and a batch of rows (num_envs=5). Maze trials
    end early, at the goal."""
    run = load_run(runs["maze"])
    seeds = EVAL_SEED_OFFSET + np.arange(5)
    one_by_one = evaluate_agent(run.agent, run.env_id, run.env_options, trials=5, num_envs=1, seed=0)
    single, actions = play_single_envs(snail.load_policy(runs["maze"], seed=0), seeds, trials_per_env=1,
                                       deterministic=False)
    np.testing.assert_allclose(single[:, 0], one_by_one["trial_return"], rtol=0, atol=1e-12)
    for j, taken in enumerate(actions):
        np.testing.assert_array_equal(taken, one_by_one["actions"][j, :len(taken)])
    batch = evaluate_agent(run.agent, run.env_id, run.env_options, trials=5, num_envs=5, seed=0)
    vector = play_vector_env(snail.load_policy(runs["maze"], seed=0), EVAL_SEED_OFFSET, 5, trials_per_row=1,
                             deterministic=False)
    np.testing.assert_allclose(vector[:, 0], batch["trial_return"], rtol=0, atol=1e-9)
    assert (batch["episode_lengths"] < 12).any()  # some inner episode reached the goal before the cap


def test_load_policy_from_a_checkpoint_file_and_its_sizes(runs):
    policy = snail.load_policy(runs["snail0"] / "last.pt", device="cpu")
    assert policy.checkpoint.name == "last.pt"
    assert (policy.env_id, policy.env_options["pulls"]) == ("snail/Bandit-v0", 10)
    assert (policy.obs_dim, policy.num_actions, policy.max_trial_steps) == (1, 5, 10)
    action, state = policy.predict(np.zeros(1, np.float32))
    assert isinstance(action, int) and 0 <= action < 5 and state.steps.tolist() == [1]
    actions, state = policy.predict(np.zeros((3, 1), np.float32))
    assert actions.shape == (3,) and actions.dtype == np.int64 and state.steps.tolist() == [1, 1, 1]


def test_predict_refuses_what_it_cannot_use(runs, tmp_path):
    policy = snail.load_policy(runs["snail0"])
    obs = np.zeros((2, 1), np.float32)
    _, state = policy.predict(obs)
    cases = [
        (lambda: policy.predict(np.zeros(3)), r"observation has shape \(3,\): expected \(1,\)"),
        (lambda: policy.predict(obs, state), "reward=None is invalid"),
        (lambda: policy.predict(obs, episode_start=[True, False]), "episode_start is False with state=None"),
        (lambda: policy.predict(obs, state, reward=[1.0, 0.0, 1.0]), r"reward has shape \(3,\)"),
        (lambda: policy.predict(obs[:1], state, reward=1.0), "the state holds 2 rows but 1"),
        (lambda: policy.predict(obs, {"t": 0}, reward=1.0), "state=dict is invalid"),
    ]
    for call, needle in cases:
        with pytest.raises(ValueError, match=needle):
            call()
    with pytest.raises(EvaluationError, match="does not exist"):
        snail.load_policy(tmp_path / "missing")


def test_readme_and_example_act_with_a_run(runs):
    """The README's "Act with a trained policy" code block and examples/act_with_policy.py run as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Act with a trained policy"):]
    code = section[section.index("```python") + len("```python"):]
    code = code[:code.index("```")]
    assert "runs/bandit/snail/<date-time>" in code
    namespace = {}
    exec(code.replace("runs/bandit/snail/<date-time>", str(runs["snail0"])), namespace)  # noqa: S102
    assert "total" in namespace and 0 <= namespace["total"] <= 10
    proc = subprocess.run([sys.executable, "examples/act_with_policy.py", str(runs["maze"]), "--trials", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "trial 1:" in proc.stdout and "trial 2:" in proc.stdout


# ----------------------------------------------------------------------------------------------------- plot


def test_curves_come_from_tensorboard_and_match_metrics_jsonl(runs, tmp_path):
    tb_steps, tb_values = plot.read_curve(runs["snail0"])
    rows = [json.loads(line) for line in (runs["snail0"] / "metrics.jsonl").read_text().splitlines()]
    assert tb_steps.tolist() == [r["env_steps"] for r in rows]
    np.testing.assert_allclose(tb_values, [r["eval/return"] for r in rows], rtol=1e-6)
    no_tb = tmp_path / "run"
    no_tb.mkdir()
    for name in ("config.yaml", "metrics.jsonl"):
        shutil.copy(runs["snail0"] / name, no_tb / name)
    steps, values = plot.read_curve(no_tb)
    np.testing.assert_array_equal(steps, tb_steps)
    np.testing.assert_allclose(values, tb_values, rtol=1e-6)
    minutes, _ = plot.read_curve(runs["snail0"], x="wall")
    assert np.all(np.diff(minutes) > 0)


def test_plot_command_writes_a_png_of_the_asked_size(runs, tmp_path, capsys):
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"rows": [{"policy": "gittins", "kind": "baseline", "params": {},
                                                "metrics": {"return": 6.5}}]}))
    out = tmp_path / "curves.png"
    assert plot.main([str(runs["multirun"]), "--baseline", "thompson=5.9", "--baseline", str(evaluation),
                      "--size", "6", "4", "--dpi", "50", "--out", str(out)]) == 0
    assert png_shape(out) == (200, 300)
    assert "(3 runs)" in capsys.readouterr().out
    assert plot.main([str(runs["snail0"]), str(runs["lstm0"]), "--x", "wall"]) == 0
    assert png_shape(runs["multirun"] / "learning_curves.png") == (500, 800)
    groups = {plot.run_group(r, "model.name") for r in plot.find_runs([runs["multirun"]])}
    assert groups == {"snail", "lstm"}


def test_plot_errors(tmp_path, capsys):
    assert plot.main([str(tmp_path / "missing")]) == 1
    assert plot.main([str(tmp_path)]) == 1
    assert plot.main([str(tmp_path), "--baseline", "x=abc"]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "no run folders" in err
