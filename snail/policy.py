"""Act with a trained run, in the spirit of Stable-Baselines3's `load` / `predict`:

    policy = snail.load_policy("runs/bandit/snail/<date-time>")      # a run folder, or a .pt file in one
    env = policy.make_env()                                          # gymnasium.make of the run's env
    obs, info = env.reset(seed=0)
    action, state = policy.predict(obs, deterministic=True)          # a trial's first step: no state yet
    while True:
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
        action, state = policy.predict(obs, state, reward=reward, deterministic=True)

A meta-RL agent's input at each step is the observation *and* its previous action and reward. The state
returned by `predict` remembers the action it returned (and the agent's memory: LSTM state, SNAIL's
convolution rings and attention cache, the Transformer's key/value cache); the reward is the caller's to pass
(`reward=`, what the env returned for that action). `episode_start` marks the steps where a trial (one
Gymnasium episode) starts; a call without a state starts one in every row.

Batches: `obs` [n, D] with `episode_start`, `reward` [n] (or scalars, broadcast) gives actions [n]. With a
vector env whose autoreset mode is NEXT_STEP (our native ones, Gymnasium's default), a row's new trial starts
at the step *after* the one that ended its trial: pass `episode_start=` the previous step's `terminated |
truncated`. The step in between shows the ended trial's last observation and its action is ignored; a row
whose trial has taken the model's `max_trial_steps` is cleared there instead of stepped past its length.
With SAME_STEP autoreset (Stable-Baselines3's VecEnv) pass the current step's dones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Policy", "PolicyState", "load_policy"]


@dataclass
class PolicyState:
    """What `Policy.predict` needs from one call to the next, for n rows (pass back the one it returned).

    `agent`: the agent's step state (caches on the agent's device, updated in place by the next call: use
    `copy.deepcopy` to branch); `prev_action` int64 [n]: the actions returned last (-1 before a trial's first).
    """

    agent: dict
    prev_action: np.ndarray

    @property
    def num_envs(self) -> int:
        return len(self.prev_action)

    @property
    def steps(self) -> np.ndarray:
        """int64 [n]: the steps each row's trial has taken so far."""
        return self.agent["t"].cpu().numpy()


class Policy:
    """A trained agent that picks actions from observations; see the module docstring.

    `env_id` and `env_options` are the env it was trained on (`make_env` builds it); `obs_dim`,
    `num_actions`, `max_trial_steps` its sizes. Sampling (`deterministic=False`) uses a torch generator seeded
    with `seed`.
    """

    def __init__(self, agent, env_id: str, env_options: Mapping | None = None, seed: int = 0,
                 config: Mapping | None = None, checkpoint: Path | None = None):
        self.agent = agent.eval()
        self.env_id, self.env_options = env_id, dict(env_options or {})
        self.config, self.checkpoint = config, checkpoint
        self.obs_dim, self.num_actions = int(agent.obs_dim), int(agent.num_actions)
        self.max_trial_steps = int(agent.max_len)
        self.device = next(agent.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))

    def make_env(self, **kwargs) -> gym.Env:
        """`gymnasium.make` of the env the policy was trained on (keyword arguments such as
        `render_mode="rgb_array"` are added to its options)."""
        import snail.envs  # noqa: F401  (registers the ids)

        return gym.make(self.env_id, **{**self.env_options, **kwargs})

    def _rows(self, name: str, value, n: int, dtype) -> np.ndarray:
        array = np.asarray(value, dtype=dtype)
        if array.ndim == 0:
            return np.full(n, array.item(), dtype=dtype)
        if array.shape != (n,):
            raise ValueError(f"{name} has shape {array.shape}: expected a scalar or ({n},), one per observation")
        return array

    @torch.no_grad()
    def predict(self, observation, state: PolicyState | None = None, episode_start=None,
                deterministic: bool = False, reward=None) -> tuple[int | np.ndarray, PolicyState]:
        """(action, state) for `observation` [D] (action: an int) or [n, D] (actions: int64 [n]).

        `state`: what the previous call returned (None: every row starts a trial). `episode_start` (bool,
        scalar or [n]): rows whose trial starts at this observation (default: none when a state is given).
        `reward` (scalar or [n]): the reward the env gave for the previous action, needed for every row that
        does not start a trial. `deterministic`: the most likely action instead of a sample.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.obs_dim:
            raise ValueError(f"observation has shape {obs.shape}: expected ({self.obs_dim},) or (n, {self.obs_dim})"
                             f" for {self.env_id}")
        obs = obs.reshape(-1, self.obs_dim)
        n = len(obs)
        if episode_start is None:
            start = np.full(n, state is None)
        else:
            start = self._rows("episode_start", episode_start, n, bool)
        if state is None:
            if not start.all():
                raise ValueError("episode_start is False with state=None: without a state every row starts a "
                                 "trial (pass the state the previous predict returned)")
            state = PolicyState(self.agent.initial_state(n), np.full(n, -1, np.int64))
        elif not isinstance(state, PolicyState):
            raise ValueError(f"state={type(state).__name__} is invalid: expected None or the PolicyState that "
                             "predict returned")
        elif state.num_envs != n:
            raise ValueError(f"the state holds {state.num_envs} rows but {n} observations were given")
        if reward is None:
            if not start.all():
                raise ValueError("reward=None is invalid here: pass the reward the env returned for the previous "
                                 "action (needed on every step of a trial but its first)")
            reward = 0.0
        prev_reward = np.where(start, 0.0, self._rows("reward", reward, n, np.float32)).astype(np.float32)
        # A row whose trial has run its full length can only be at a NEXT_STEP autoreset, where the action is
        # ignored: clear it (it starts for real at the next call) rather than step past the agent's max_len.
        reset = start | (state.steps >= self.max_trial_steps)
        prev_action = np.where(reset, -1, state.prev_action)
        device = self.device
        logits, _, agent_state = self.agent.step(
            torch.as_tensor(obs, device=device), torch.as_tensor(prev_action, device=device),
            torch.as_tensor(prev_reward, device=device), state.agent, torch.as_tensor(reset, device=device))
        if deterministic:
            action = logits.argmax(-1)
        else:
            action = torch.multinomial(F.softmax(logits.float(), -1), 1, generator=self.generator).squeeze(-1)
        action = action.cpu().numpy().astype(np.int64)
        state = PolicyState(agent_state, action)
        return (int(action[0]) if single else action), state


def load_policy(path: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu",
                seed: int = 0) -> Policy:
    """The agent of a trained run as a `Policy`: `path` is a run folder (its `checkpoint`.pt: "best", falling
    back to last.pt when the run never evaluated, or "last") or a checkpoint file in one; `device` "cpu",
    "cuda", "auto", ...; `seed` seeds the sampling. Errors (missing folder, unreadable checkpoint, a config
    that no longer fits the code) are one-line ValueErrors / CheckpointErrors, as `evaluate.py` gives."""
    from snail.device import resolve_device
    from snail.evaluation.runs import load_run  # not at import time: the core does not import evaluation

    run = load_run(path, checkpoint, resolve_device(str(device)) if isinstance(device, str) else device)
    return Policy(run.agent, run.env_id, run.env_options, seed=seed, config=run.config, checkpoint=run.checkpoint)
