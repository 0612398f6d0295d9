"""Act with a trained run: load its policy and play a few trials of its env in a plain Gymnasium loop.

    python examples/act_with_policy.py runs/bandit/snail/<date-time>
    python examples/act_with_policy.py runs/maze/snail/<date-time> --trials 3 --greedy --render

Trial j is the task of env seed 10**9 + j, the j-th held-out trial of `python evaluate.py`; with `--greedy`
the returns are those of `evaluate.py greedy=true` on the same trials.
"""

from __future__ import annotations

import argparse

import snail
from snail.trials import EVAL_SEED_OFFSET


def play_trial(policy, env, seed: int, greedy: bool, render: bool) -> tuple[float, dict]:
    """One trial (one Gymnasium episode): its return and the env's info at its last step."""
    obs, info = env.reset(seed=seed)
    action, state = policy.predict(obs, deterministic=greedy)  # a trial's first step: no state yet
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        if render:
            print(env.render(), end="\n\n")
        if terminated or truncated:
            return total, info
        # The agent's next input: this observation, the action it took (kept in `state`) and its reward.
        action, state = policy.predict(obs, state, reward=reward, deterministic=greedy)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a run folder (runs/<env>/<model>/<date-time>) or a checkpoint file in one")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--greedy", action="store_true", help="the most likely action instead of a sample")
    p.add_argument("--render", action="store_true", help="print the env's text view after every step")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    policy = snail.load_policy(args.run, checkpoint=args.checkpoint, device=args.device)
    env = policy.make_env(render_mode="ansi" if args.render else None)
    print(f"{policy.checkpoint} on {policy.env_id} {policy.env_options}")
    for j in range(args.trials):
        total, info = play_trial(policy, env, EVAL_SEED_OFFSET + j, args.greedy, args.render)
        extra = ""
        if "optimal_return" in info:
            extra = f" (optimal {info['optimal_return']:.2f})"
        elif "success" in info:
            extra = (f", inner episodes reached the goal: {info['success'].tolist()}, steps "
                     f"{info['episode_lengths'].tolist()}")
        print(f"trial {j + 1}: return {total:.2f}{extra}")


if __name__ == "__main__":
    main()
