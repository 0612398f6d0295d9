"""Config schemas (snail/config/schemas.py), their checks (snail/config) and the entry points' one-line errors."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from snail.agent import build_agent
from snail.config import ConfigError, schemas
from snail.config.errors import config_error_message, hydra_errors_in_one_line
from snail.ppo import PPOConfig
from snail.train import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "snail" / "conf"
PPO_KEYS = str(list(PPOConfig.__dataclass_fields__))
RUN_KEYS = "['total_env_steps', 'max_minutes', 'eval_every', 'eval_trials', 'checkpoint_every', 'torch_threads', "


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["algo", "env", "model"])
def test_every_group_option_composes_to_its_schema(group):
    for name in options(group):
        cfg = schemas.compose_config("config", [f"{group}={name}"])
        assert OmegaConf.get_type(cfg[group]) is schemas.GROUP_SCHEMAS[group][name] and cfg[group].name == name


@pytest.mark.parametrize("group", ["algo", "env", "model"])
def test_group_files_repeat_no_default_of_their_schema(group):
    """One source per default: an option's yaml extends its schema and holds only values that differ."""
    for name in options(group):
        text = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())
        assert text["defaults"] == [f"/schema/{group}/{name}@_here_", "_self_"]
        schema = OmegaConf.structured(schemas.GROUP_SCHEMAS[group][name])
        assert all(value != schema[key] for key, value in text.items() if key != "defaults"), name


def per_env_files():
    """(group, file name, overrides that select it) of every file in conf/algo/per_env and conf/model/per_env."""
    cases = [("algo", env, [f"env={env}"]) for env in options("algo/per_env")]
    for name in options("model/per_env"):
        env = next(e for e in options("env") if name.endswith(f"_{e}"))
        cases.append(("model", name, [f"model={name[: -len(env) - 1]}", f"env={env}"]))
    return cases


@pytest.mark.parametrize("group,name,overrides", per_env_files())
def test_per_env_settings_are_applied(group, name, overrides):
    cfg = schemas.compose_config("config", overrides)
    tuned = yaml.safe_load((CONF / group / "per_env" / f"{name}.yaml").read_text())
    assert {key: cfg[group][key] for key in tuned} == tuned


MODELS = ["snail", "transformer", "lstm", "tc_only", "attn_only"]
SEEDS = ["0", "1", "2"]
# experiment -> (env, the swept keys and their values, budget: total env steps of a job or max_minutes)
ABLATION = {"model": MODELS, "seed": SEEDS}
EXPERIMENTS = {
    "paper_bandit": ("bandit", {"env.pulls": ["10", "100", "500"], "env.arms": ["5", "10", "50"], "seed": SEEDS},
                     lambda cfg: {"total_env_steps": 100_000 * cfg.env.pulls}),
    "paper_bandit_n10": ("bandit", {"env.pulls": ["10"], "env.arms": ["5", "10", "50"], "seed": SEEDS},
                         lambda cfg: {"total_env_steps": 3_000_000}),
    "paper_mdp": ("tabular_mdp", {"env.episodes": ["10", "25", "50", "75", "100"], "seed": SEEDS},
                  lambda cfg: {"total_env_steps": 100_000 * 10 * cfg.env.episodes}),
    "paper_maze": ("maze", {"env.preset": ["small", "large"], "seed": SEEDS},
                   lambda cfg: {"total_env_steps": 10_000_000}),
    "ablation_bandit_steps": ("bandit", ABLATION, lambda cfg: {"total_env_steps": 10_000_000}),
    "ablation_bandit_time": ("bandit", ABLATION, lambda cfg: {"max_minutes": 20}),
    "ablation_mdp_steps": ("tabular_mdp", ABLATION, lambda cfg: {"total_env_steps": 10_000_000}),
    "ablation_mdp_time": ("tabular_mdp", ABLATION, lambda cfg: {"max_minutes": 30}),
    "ablation_maze_steps": ("maze", ABLATION, lambda cfg: {"total_env_steps": 5_000_000}),
    "ablation_maze_time": ("maze", ABLATION, lambda cfg: {"max_minutes": 60}),
}


# single-GPU presets (not sweeps): experiment -> (env, trials per update, minibatch trials)
GPU_EXPERIMENTS = {"gpu_bandit": ("bandit", 4096, 512), "gpu_maze": ("maze", 1024, 32)}


def test_every_experiment_file_is_checked():
    assert sorted([*EXPERIMENTS, *GPU_EXPERIMENTS]) == options("experiment")


@pytest.mark.parametrize("experiment", sorted(GPU_EXPERIMENTS))
def test_gpu_presets_compose(experiment):
    env, num_envs, minibatch = GPU_EXPERIMENTS[experiment]
    cfg = schemas.compose_config("config", [f"experiment={experiment}"])
    assert (cfg.env.name, cfg.algo.num_envs, cfg.algo.minibatch_trials) == (env, num_envs, minibatch)
    assert (cfg.device, cfg.run.rollout_step) == ("cuda", "auto")
    assert cfg.algo.precision == {"gpu_bandit": "bf16", "gpu_maze": "fp32"}[experiment]  # as measured
    assert not schemas.sweep_jobs([f"experiment={experiment}"])[0][1:]  # one run, not a sweep


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_experiment_sweeps_expand_to_their_cells(experiment):
    """`python train.py -m experiment=<name>` launches one job per cell x seed (hydra.sweeper.params, expanded
    as Hydra's basic sweeper does), each composing to its env, its cell and the stated budget."""
    env, swept, budget = EXPERIMENTS[experiment]
    jobs = schemas.sweep_jobs([f"experiment={experiment}"])
    cells = {tuple(o for o in job if not o.startswith("experiment=")) for job in jobs}
    expected = set(itertools.product(*([f"{key}={v}" for v in values] for key, values in swept.items())))
    assert len(jobs) == len(cells) == len(expected) and cells == expected
    for job in (jobs[0], jobs[len(jobs) // 2], jobs[-1]):
        cfg = schemas.compose_config("config", job)
        assert cfg.env.name == env
        for override in job:
            key, value = override.split("=")
            if key != "experiment":  # a group choice (model=lstm) or a value (env.arms=5)
                assert str(OmegaConf.select(cfg, "model.name" if key == "model" else key)) == value
        for key, value in budget(cfg).items():
            assert cfg.run[key] == value, (job, key)
        if "max_minutes" in budget(cfg):  # equal wall clock: the clock, not the step count, ends the run
            assert cfg.run.total_env_steps >= 10**12
        else:  # equal env steps: reproducible, no clock
            assert cfg.run.max_minutes is None


def test_the_n10_row_trains_with_its_tuned_batch():
    """paper_bandit_n10 = paper_bandit's N=10 row with 256 trials per update (results/bandit_n10_settings_sweep.json);
    the other rows keep the bandit defaults."""
    n10 = schemas.compose_config("config", ["experiment=paper_bandit_n10", "env.pulls=10"])
    row = schemas.compose_config("config", ["experiment=paper_bandit", "env.pulls=10"])
    bandit = schemas.compose_config("config", ["env=bandit", "env.pulls=10"])
    assert (n10.algo.num_envs, n10.algo.minibatch_trials) == (256, 32)
    assert row.algo == bandit.algo and row.algo.num_envs != 256
    batch = ("num_envs", "minibatch_trials")
    assert ({k: v for k, v in n10.algo.items() if k not in batch}
            == {k: v for k, v in row.algo.items() if k not in batch})


def test_command_line_sweeps_replace_the_experiments():
    jobs = schemas.sweep_jobs(["experiment=paper_bandit", "env.pulls=10", "model=snail,lstm"])
    assert len(jobs) == 3 * 3 * 2 and all("env.pulls=10" in job for job in jobs)
    cfg = schemas.compose_config("config", jobs[-1])
    assert (cfg.model.name, cfg.env.arms, cfg.run.total_env_steps) == ("lstm", 50, 1_000_000)


@pytest.mark.parametrize("env", options("env"))
def test_evaluate_config_composes(env):
    cfg = schemas.compose_config("evaluate", [f"env={env}"])
    assert OmegaConf.get_type(cfg) is schemas.EvaluateCommandConfig and cfg.env.name == env


def plain_config(path, value):
    """A composed config as a plain dict, with `value` put at dotted `path` (new keys included)."""
    cfg = OmegaConf.to_container(schemas.compose_config("config", ["env.pulls=10", "run.progress=false"]))
    *parents, key = path.split(".")
    node = cfg
    for parent in parents:
        node = node[parent]
    node[key] = value
    return cfg


# (override, the same value as Python, the one-line message)
BAD = [
    ("algo.epochs=2.5", 2.5, "algo.epochs=2.5 is invalid: expected an integer"),
    ("algo.lr=abc", "abc", "algo.lr='abc' is invalid: expected a number"),
    ("seed=abc", "abc", "seed='abc' is invalid: expected an integer"),
    ("algo.num_envs=2.5", 2.5, "algo.num_envs=2.5 is invalid: expected an integer"),
    ("algo.target_kl=abc", "abc", "algo.target_kl='abc' is invalid: expected null or a number"),
    ("run.progress=maybe", "maybe", "run.progress='maybe' is invalid: expected true or false"),
    ("algo.foo=1", 1, f"unknown algo option(s) ['foo'] (algo.foo=1); allowed: {PPO_KEYS}"),
    ("run.bogus=1", 1, f"unknown run option(s) ['bogus'] (run.bogus=1); allowed: {RUN_KEYS}"),
    ("bogus=1", 1, "unknown train option(s) ['bogus'] (bogus=1); allowed: ['algo', 'model', 'env', 'seed', "),
    ("env.foo=1", 1, "unknown env option(s) ['foo'] (env.foo=1); allowed: ['name', 'id', 'arms', 'pulls']"),
]


@pytest.mark.parametrize("override,value,message", BAD)
def test_bad_type_or_key_fails_at_composition_and_in_a_plain_dict_alike(tmp_path, override, value, message):
    with pytest.raises(ConfigCompositionException) as err:
        schemas.compose_config("config", [override])
    assert config_error_message(err.value, "train").startswith(message)
    with pytest.raises(ConfigError) as err:
        train(plain_config(override.split("=")[0], value), tmp_path)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("override,message", [
    ("+algo.foo=1", f"unknown algo option(s) ['foo'] (algo.foo=1); allowed: {PPO_KEYS}"),
    ("+run.bogus=1", f"unknown run option(s) ['bogus'] (run.bogus=1); allowed: {RUN_KEYS}"),
    ("seed=-1", "seed=-1 is invalid: expected an integer >= 0"),
    ("algo.epochs=0", "algo.epochs=0 is invalid: expected an integer >= 1"),
])
def test_added_keys_and_bad_values_fail_before_training_starts(tmp_path, override, message):
    """Hydra composes these (`+` adds a key even to a schema); train() refuses them before any work."""
    cfg = schemas.compose_config("config", [override, "env.pulls=10"])
    with pytest.raises(ConfigError) as err:
        train(cfg, tmp_path)
    assert str(err.value).startswith(message)
    assert not any(tmp_path.iterdir())


def test_model_mistakes_read_the_same_from_the_command_line_and_build_agent():
    with pytest.raises(ConfigCompositionException) as err:
        schemas.compose_config("config", ["model=lstm", "model.hidden_size=2.5"])
    with pytest.raises(ConfigError) as direct:
        build_agent({"name": "lstm", "hidden_size": 2.5}, obs_dim=1, num_actions=5, max_len=100)
    assert config_error_message(err.value, "train") == str(direct.value) == (
        "model.hidden_size=2.5 is invalid: expected an integer")


def test_dataclasses_check_types_when_built_directly():
    with pytest.raises(ConfigError, match=r"^algo.epochs=2.5 is invalid: expected an integer$"):
        PPOConfig(epochs=2.5)
    with pytest.raises(ConfigError, match=r"^algo.norm_adv=1 is invalid: expected true or false$"):
        PPOConfig(norm_adv=1)
    assert PPOConfig(lr=1).lr == 1  # an int is a number


def test_one_line_errors_leave_hydra_full_error_as_it_was(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        with hydra_errors_in_one_line("train"):
            assert os.environ["HYDRA_FULL_ERROR"] == "1"
            PPOConfig(gamma=2)
    assert str(exit_.value.code) == "train: error: algo.gamma=2 is invalid: expected a number in [0, 1]"
    assert "HYDRA_FULL_ERROR" not in os.environ


def run_script(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script,override,message", [
    ("train.py", "algo.epochs=2.5", "train: error: algo.epochs=2.5 is invalid: expected an integer"),
    ("train.py", "+algo.foo=1", "train: error: unknown algo option(s) ['foo'] (algo.foo=1); allowed: "),
    ("evaluate.py", "trials=abc", "evaluate: error: trials='abc' is invalid: expected an integer"),
])
def test_entry_points_print_one_line_and_exit_1(tmp_path, script, override, message):
    proc = run_script(script, override, f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 1 and proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
