"""An outside recurrent agent on our envs: sb3-contrib's RecurrentPPO (MlpLstmPolicy) learns the bandit through
`MetaRLObservation`, then plays snail's 1000 held-out trials (env seeds 10**9 + j), like `evaluate.py` does.

    pip install -e ".[sb3]"          # sb3-contrib, stable-baselines3
    python examples/sb3_recurrent_ppo.py                                    # K=5 arms, N=100 pulls
    python examples/sb3_recurrent_ppo.py --steps 100000 --eval-trials 200 --out results/x.json

Without the wrapper the LSTM sees only the bandit's observation (the inner-episode flag, always 0) and stays at
random (50 on K=5, N=100): it has no way to know which arm paid. With it, each step's observation holds the
previous action (one-hot) and reward, zeros at a trial's first step, which is what an RL² agent needs.
One Gymnasium episode is one trial, so sb3's `episode_start` clears the LSTM exactly between trials.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

import snail.envs  # noqa: F401  (registers snail/Bandit-v0)
from snail.envs.wrappers import MetaRLObservation
from snail.metrics import summarize
from snail.trials import EVAL_SEED_OFFSET, PredictorPolicy, run_trials


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arms", type=int, default=5)
    p.add_argument("--pulls", type=int, default=100)
    p.add_argument("--steps", type=int, default=1_000_000, help="training env steps")
    p.add_argument("--n-envs", type=int, default=32)
    p.add_argument("--n-steps", type=int, default=100, help="steps per env per rollout (one trial of 100)")
    p.add_argument("--batch-size", type=int, default=1600, help="steps per minibatch (16 trials of 100)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--gamma", type=float, default=0.9, help="0.99 learned far slower (BENCHMARKS.md)")
    p.add_argument("--gae-lambda", type=float, default=0.5)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)
    p.add_argument("--norm-reward", action=argparse.BooleanOptionalAction, default=True,
                   help="scale the rewards PPO learns from by a running std of the return (VecNormalize); the "
                        "observation keeps the raw reward")
    p.add_argument("--lstm-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--eval-trials", type=int, default=1000)
    p.add_argument("--eval-seed", type=int, default=0, help="held-out trial j is the task of env seed 10**9 + this + j")
    p.add_argument("--deterministic", action="store_true", help="evaluate with the argmax action")
    p.add_argument("--out", type=Path, default=None, help="write the settings and results as JSON here")
    p.add_argument("--save", type=Path, default=None, help="save the trained model here (.zip)")
    p.add_argument("--load", type=Path, default=None, help="evaluate this saved model instead of training one")
    p.add_argument("--verbose", type=int, default=0, help="sb3's training log (1: a table per update)")
    return p.parse_args(argv)


def train(args: argparse.Namespace) -> tuple[RecurrentPPO, float]:
    env_options = {"arms": args.arms, "pulls": args.pulls}
    vec_env = DummyVecEnv([lambda: MetaRLObservation(gym.make("snail/Bandit-v0", **env_options))] * args.n_envs)
    vec_env.seed(args.seed)  # training tasks: env seeds seed + i, far below the held-out ones (10**9 + j)
    vec_env = VecMonitor(vec_env)  # trial returns in the training log (rollout/ep_rew_mean, with --verbose 1)
    if args.norm_reward:
        # Trial returns are tens, so the value loss would dominate sb3's one gradient-norm clip over the policy
        # and value networks and the policy would hardly move (approx KL ~1e-5 per update): scale them down.
        vec_env = VecNormalize(vec_env, norm_obs=False, norm_reward=True, gamma=args.gamma)
    model = RecurrentPPO("MlpLstmPolicy", vec_env, n_steps=args.n_steps, batch_size=args.batch_size,
                         n_epochs=args.epochs, learning_rate=args.lr, gamma=args.gamma, gae_lambda=args.gae_lambda,
                         ent_coef=args.ent_coef, vf_coef=args.vf_coef, max_grad_norm=args.max_grad_norm,
                         policy_kwargs={"lstm_hidden_size": args.lstm_size}, seed=args.seed, device="cpu",
                         verbose=args.verbose)
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    return model, time.perf_counter() - t0


def evaluate(model, args: argparse.Namespace, num_envs: int = 100) -> dict:
    """Mean trial return etc. with 95% CIs (snail.metrics.summarize) on held-out trials: trial j is the task of
    env seed 10**9 + eval_seed + j, the trials `python evaluate.py seed=<eval_seed>` plays."""
    num_envs = min(num_envs, args.eval_trials)
    policy = PredictorPolicy(model, num_envs, deterministic=args.deterministic)
    results = run_trials(policy, "bandit", {"arms": args.arms, "pulls": args.pulls}, num_trials=args.eval_trials,
                         seed=args.eval_seed, num_envs=num_envs)
    return summarize(results, "bandit")


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.load:
        model, seconds = RecurrentPPO.load(args.load, device="cpu"), 0.0
    else:
        model, seconds = train(args)
    if args.save:
        model.save(args.save)
    summary = evaluate(model, args)
    trained = f"loaded from {args.load}" if args.load else f"{args.steps} steps in {seconds / 60:.1f} min"
    print(f"RecurrentPPO + MetaRLObservation, {trained}: mean trial return "
          f"{summary['return']:.2f} ± {summary['return_ci95']:.2f} on {summary['trials']} held-out trials "
          f"(random: {args.pulls / 2:g}; optimal {summary['optimal_return']:.2f}), best arm "
          f"{100 * summary['best_arm_fraction']:.1f}% of pulls")
    seeds = [EVAL_SEED_OFFSET + args.eval_seed, EVAL_SEED_OFFSET + args.eval_seed + args.eval_trials - 1]
    out = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "train_seconds": round(seconds, 1), "eval_seeds": seeds,
           "metrics": {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()}}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
