"""snail: memory-based meta-RL in PyTorch (README.md).

`snail.load_policy(path)` loads a trained run as a `snail.policy.Policy` (`predict`, in the spirit of
Stable-Baselines3); it is imported on first use, so `import snail.envs` stays light (no torch).
"""

__all__ = ["load_policy"]


def __getattr__(name: str):
    if name == "load_policy":
        from snail.policy import load_policy

        return load_policy
    raise AttributeError(f"module 'snail' has no attribute {name!r}")
