"""Training throughput of each model on the default bandit (K=5, N=100), and where the time goes.

    python benchmarks/train_speed.py [--updates 3] [--models snail transformer lstm tc_only attn_only]

One update = a rollout of `algo.num_envs` whole trials (cached `step`) + the PPO update (forward/backward
over whole trials). Prints env steps per second, the rollout/update split, and each model's throughput as a
ratio to SNAIL's, measured in the same run (the machine is noisy; compare ratios, not absolute numbers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path and benchmarks/envs.py would shadow the `envs` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from snail.agent import build_agent  # noqa: E402
from snail.ppo import PPOConfig, ppo_update  # noqa: E402
from snail.rollout import collect_trials, make_vector_env  # noqa: E402
from snail.schemas import compose_config  # noqa: E402
from snail.train import env_kwargs  # noqa: E402


def measure(model: str, updates: int, overrides: list[str]) -> dict[str, float]:
    cfg = compose_config("config", [f"model={model}", *overrides])
    ppo_cfg = PPOConfig.from_mapping(cfg.algo)
    envs = make_vector_env(cfg.env.id, ppo_cfg.num_envs, env_kwargs(cfg.env))
    torch.manual_seed(0)
    agent = build_agent(cfg.model, obs_dim=envs.single_observation_space.shape[0],
                        num_actions=int(envs.single_action_space.n), max_len=envs.unwrapped.max_trial_steps)
    optimizer = torch.optim.Adam(agent.parameters(), lr=ppo_cfg.lr)
    rollout_s = update_s = 0.0
    steps = 0
    for i in range(updates + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        agent.eval()
        batch, _ = collect_trials(agent, envs, seed=i * ppo_cfg.num_envs)
        t1 = time.perf_counter()
        agent.train()
        ppo_update(agent, optimizer, batch, ppo_cfg)
        t2 = time.perf_counter()
        if i > 0:
            rollout_s += t1 - t0
            update_s += t2 - t1
            steps += int(batch.mask.sum())
    return {"params": sum(p.numel() for p in agent.parameters()), "steps_per_s": steps / (rollout_s + update_s),
            "rollout_share": rollout_s / (rollout_s + update_s), "update_s": update_s / updates,
            "rollout_s": rollout_s / updates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["snail", "transformer", "lstm", "tc_only", "attn_only"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo.num_envs=128")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; default bandit config "
          f"{' '.join(args.overrides)}")
    print(f"{'model':<12} {'params':>9} {'env steps/s':>12} {'rollout s':>10} {'update s':>9} "
          f"{'rollout %':>9} {'vs snail':>9}")
    reference = None
    for model in args.models:
        r = measure(model, args.updates, args.overrides)
        reference = reference or r["steps_per_s"]
        print(f"{model:<12} {r['params']:>9,} {r['steps_per_s']:>12,.0f} {r['rollout_s']:>10.2f} "
              f"{r['update_s']:>9.2f} {100 * r['rollout_share']:>8.0f}% {r['steps_per_s'] / reference:>8.2f}x")


if __name__ == "__main__":
    main()
