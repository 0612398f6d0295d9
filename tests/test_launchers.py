"""Sweeps past one process through Hydra's launcher plugins (optional extras: pip install ".[launchers]"):
joblib for parallel runs on one machine, submitit for SLURM (its local executor runs here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["seed=0,1", "env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "run.total_env_steps=40",
        "run.progress=false", "run.torch_threads=1"]


def sweep(tmp_path, *overrides):
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *overrides, *TINY,
                           f"hydra.sweep.dir={tmp_path}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = sorted(p.name for p in tmp_path.iterdir() if (p / "last.pt").is_file())
    assert [name.rsplit("__", 1)[-1] for name in runs] == ["seed-0", "seed-1"], runs
    return done


@pytest.mark.slow
@pytest.mark.parametrize("launcher,plugin,extra", [
    ("joblib", "hydra_plugins.hydra_joblib_launcher", ["hydra.launcher.n_jobs=2"]),
    ("submitit_local", "hydra_plugins.hydra_submitit_launcher", ["hydra.launcher.timeout_min=5"]),
])
def test_a_tiny_sweep_completes_through_the_launcher(tmp_path, launcher, plugin, extra):
    pytest.importorskip(plugin)
    sweep(tmp_path, f"hydra/launcher={launcher}", *extra)


def test_the_slurm_preset_composes_with_the_fields_a_user_fills():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    shown = subprocess.run([sys.executable, str(ROOT / "train.py"), "hydra/launcher=slurm",
                            "hydra.launcher.partition=gpu", "hydra.launcher.account=lab", "--cfg", "hydra"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "submitit_launcher.SlurmLauncher" in shown.stdout
    for field in ("partition: gpu", "account: lab", "gpus_per_node: 1", "timeout_min: 240"):
        assert field in shown.stdout, field
