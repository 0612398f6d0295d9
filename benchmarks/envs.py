"""Env steps per second: each task's native vector env against gymnasium.vector.SyncVectorEnv over its single
env (made by gymnasium.make, with Gymnasium's default checker wrappers), both at the same num_envs.

    python benchmarks/envs.py [--num-envs 1024] [--seconds 3] [--tasks bandit maze ...]

Actions are drawn up front (uniform over the action set); trials run through their ends, so autoresets are
included. Each run steps for about `--seconds` of wall time (at least a few steps); the reported rate is
num_envs * steps / elapsed. Also prints how long a vector reset (new tasks in every row) takes.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import snail.envs  # noqa: F401  (registers the ids)

TASKS = {
    "bandit": ("snail/Bandit-v0", {}),
    "tabular_mdp": ("snail/TabularMDP-v0", {}),
    "maze": ("snail/Maze-v0", {"preset": "small"}),
    "maze_large": ("snail/Maze-v0", {"preset": "large"}),
    "maze_cardinal": ("snail/Maze-v0", {"preset": "small", "actions": "cardinal"}),
}


def steps_per_second(vec_env: gym.vector.VectorEnv, seconds: float, min_steps: int = 3,
                     table_len: int = 4096) -> float:
    """Env steps per second of `vec_env` (num_envs * vector steps / wall time)."""
    n = vec_env.num_envs
    actions = np.random.default_rng(0).integers(0, vec_env.single_action_space.n, size=(table_len, n))
    vec_env.reset(seed=0)
    vec_env.step(actions[0])  # warm-up
    steps = 0
    start = time.perf_counter()
    while True:
        vec_env.step(actions[steps % table_len])
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= min_steps:
            return n * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time per measurement")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    args = parser.parse_args()

    n = args.num_envs
    print(f"num_envs={n}, ~{args.seconds:g} s per measurement")
    header = f"{'task':<14} {'native steps/s':>15} {'sync steps/s':>13} {'ratio':>7} {'reset (ms)':>11}"
    print(header)
    print("-" * len(header))
    for name in args.tasks:
        env_id, kwargs = TASKS[name]
        native = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
        start = time.perf_counter()
        native.reset(seed=1)
        reset_ms = 1000 * (time.perf_counter() - start)
        native_rate = steps_per_second(native, args.seconds)
        sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **kwargs)
        sync_rate = steps_per_second(sync, args.seconds)
        print(f"{name:<14} {native_rate:>15,.0f} {sync_rate:>13,.0f} {native_rate / sync_rate:>6.0f}x "
              f"{reset_ms:>11.1f}", flush=True)
        native.close()
        sync.close()


if __name__ == "__main__":
    main()
