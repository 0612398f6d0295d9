"""A built wheel alone is enough: installed into a fresh virtual environment (no checkout on the path), its
console scripts train and evaluate. Slow: it builds a wheel and a venv (pip finds torch in its cache)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_trains_and_evaluates_through_its_console_scripts(tmp_path):
    import torch

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"),
                    str(ROOT)], check=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("snail_metarl-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    torch_version = torch.__version__.split("+")[0]
    subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    f"torch=={torch_version}", str(wheel)], check=True, timeout=900)
    work = tmp_path / "work"  # no checkout here: configs and code come from the installed wheel
    work.mkdir()
    tiny = ["env.pulls=10", "algo.num_envs=8", "algo.minibatch_trials=4", "run.total_env_steps=160",
            "run.progress=false", "hydra.run.dir=runs/tiny"]
    trained = subprocess.run([str(bin_dir / "snail-train"), *tiny], cwd=work, capture_output=True, text=True,
                             timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert "done: 160 env steps" in trained.stdout and (work / "runs/tiny/best.pt").is_file()
    evaluated = subprocess.run([str(bin_dir / "python"), "-m", "snail", "evaluate", "run=runs/tiny",
                                "baseline=thompson", "trials=20"], cwd=work, capture_output=True, text=True,
                               timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "thompson" in evaluated.stdout and (work / "runs/tiny/evaluation.json").is_file()
    imported = subprocess.run([str(bin_dir / "python"), "-c", "import snail; print(snail.__file__)"], cwd=work,
                              capture_output=True, text=True, timeout=60)
    assert str(env_dir) in imported.stdout  # the installed package, not a checkout
