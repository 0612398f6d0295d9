"""The agent: input encoder -> sequence model(s) -> categorical policy logits and a scalar value.

Contract (docs/interfaces.md):
    agent = build_agent(model_cfg, obs_dim, num_actions, max_len)
    logits [B, T, A], values [B, T] = agent(obs [B, T, D], prev_action [B, T], prev_reward [B, T])
    state = agent.initial_state(batch_size)
    logits [B, A], values [B], state = agent.step(obs [B, D], prev_action [B], prev_reward [B], state,
                                                  reset [B])

The step state is a dict the caller treats as opaque: {"t": [B] int64 time index of each row within its trial,
"tick": steps taken (a 0-dim int64 tensor in a new state and in the static step, an int after an
eager step), "policy": the policy network's caches (lists of tensors), "value": the
value network's (None with a shared trunk)}. Everything lives on the agent's device. `step` updates the caches in
place and returns the state to use next. `step(..., static=True)` is the same step with fixed shapes and no
host synchronisation, updating the whole state in place: what a CUDA graph or torch.compile needs
(snail/fast_step.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral

import torch
import torch.nn as nn
import torch.nn.functional as F

from snail.blocks import Clock
from snail.config import dataclass_by_name
from snail.envs.maze import PRESETS as MAZE_PRESETS
from snail.envs.maze import MazeObsLayout
from snail.models import MODEL_CONFIGS, SNAIL_PRESETS

# The default maze's observation (view_size 3, no position): 2 * 7 * 7 + 5 = 103.
MAZE_OBS_DIM = MazeObsLayout(view_size=3, size=MAZE_PRESETS["small"][0]).obs_dim


class InputEncoder(nn.Module):
    """Step input (obs, one-hot previous action, previous reward) -> MLP -> [embed_dim].

    The inner-episode flag is the last element of obs. At the first step of a trial the previous action and
    reward are zeros, whatever the caller passed (prev_action = -1 means none).
    """

    def __init__(self, obs_dim: int, num_actions: int, hidden: Sequence[int], embed_dim: int):
        super().__init__()
        self.num_actions = num_actions
        layers, width = [], obs_dim + num_actions + 1
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, embed_dim))

    def features(self, obs, prev_action, prev_reward, first) -> torch.Tensor:
        """obs [..., D], prev_action / prev_reward / first (bool) [...] -> [..., D + A + 1]."""
        known = (prev_action >= 0) & ~first
        action = F.one_hot(prev_action.clamp(min=0), self.num_actions).to(obs.dtype) * known[..., None]
        reward = torch.where(first, 0.0, prev_reward).to(obs.dtype)
        return torch.cat([obs, action, reward[..., None]], dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)


def _head(width: int, out: int, gain: float) -> nn.Linear:
    head = nn.Linear(width, out)
    nn.init.orthogonal_(head.weight, gain)
    nn.init.zeros_(head.bias)
    return head


class Agent(nn.Module):
    def __init__(self, cfg, obs_dim: int, num_actions: int, max_len: int):
        super().__init__()
        self.cfg, self.obs_dim, self.num_actions, self.max_len = cfg, obs_dim, num_actions, max_len
        self.policy_encoder = InputEncoder(obs_dim, num_actions, cfg.encoder_hidden, cfg.embed_dim)
        self.policy_net = cfg.make_net(cfg.embed_dim, max_len)
        self.policy_head = _head(self.policy_net.out_dim, num_actions, gain=0.01)
        self.shared_trunk = cfg.shared_trunk
        if self.shared_trunk:
            self.value_encoder = self.value_net = None
            self.value_head = _head(self.policy_net.out_dim, 1, gain=1.0)
        else:
            self.value_encoder = InputEncoder(obs_dim, num_actions, cfg.encoder_hidden, cfg.embed_dim)
            self.value_net = cfg.make_net(cfg.embed_dim, max_len, value=True)
            self.value_head = _head(self.value_net.out_dim, 1, gain=1.0)
        limits = [net.max_len for net in (self.policy_net, self.value_net) if net is not None]
        self.step_limit = max_len if any(n is not None for n in limits) else None  # None: no limit

    def num_params(self, part: str = "all") -> int:
        """Parameter count of "policy" (encoder, network, head), "value" (value encoder, network, head; just
        the head with a shared trunk) or "all"."""
        groups = self.param_groups()
        groups["all"] = groups["policy"] + groups["value"]
        return sum(p.numel() for p in groups[part])

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters of the policy (encoder, network, head) and of the value function (value encoder,
        network, head; just the head with a shared trunk), e.g. to clip their gradients separately."""
        groups = {"policy": (self.policy_encoder, self.policy_net, self.policy_head),
                  "value": (self.value_encoder, self.value_net, self.value_head)}
        return {name: [p for m in mods if m is not None for p in m.parameters()] for name, mods in groups.items()}

    def forward(self, obs, prev_action, prev_reward) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, T, D], prev_action [B, T] int64, prev_reward [B, T] -> logits [B, T, A], values [B, T].

        Runs under torch.autocast too (bf16 on CPU: about 1.6x faster training, see benchmarks/inference.py);
        the outputs are float32 either way."""
        T = obs.shape[1]
        if self.step_limit is not None and T > self.step_limit:
            raise ValueError(f"trials of {T} steps are longer than this agent's max_len={self.max_len}")
        first = (torch.arange(T, device=obs.device) == 0).expand(obs.shape[:2])  # [B, T]
        x = self.policy_encoder.features(obs, prev_action, prev_reward, first)  # [B, T, D + A + 1]
        h = self.policy_net(self.policy_encoder(x))  # [B, T, out]
        hv = h if self.shared_trunk else self.value_net(self.value_encoder(x))
        return self.policy_head(h).float(), self.value_head(hv).squeeze(-1).float()  # float32 under autocast

    def initial_state(self, batch_size: int) -> dict:
        p = next(self.parameters())
        value = None if self.shared_trunk else self.value_net.initial_state(batch_size, p.device, p.dtype)
        return {"t": torch.zeros(batch_size, dtype=torch.int64, device=p.device),
                "tick": torch.zeros((), dtype=torch.int64, device=p.device),
                "policy": self.policy_net.initial_state(batch_size, p.device, p.dtype), "value": value}

    def step(self, obs, prev_action, prev_reward, state: dict, reset, static: bool = False):
        """obs [B, D], prev_action [B], prev_reward [B], reset [B] bool (rows starting a trial at this step)
        -> logits [B, A], values [B], state.

        `static=True`: attention reads all max_len cache positions (the ones past each row's step masked, as
        they are anyway), the rows are cleared whether or not any resets, and "t" and "tick" are updated in
        place; no value goes to the host, so the step can be captured as one CUDA graph or compiled whole. The
        caller keeps rows within max_len (reset them in time). Same results as the default step (tested)."""
        t = torch.where(reset, 0, state["t"])  # [B]
        if static:
            span, tick = self.max_len, state["tick"]
        else:
            # tick: a Python int after the first eager step (a tensor only in a fresh state): no sync per step
            span, tick = int(t.max()) + 1, int(state["tick"])
            if self.step_limit is not None and span > self.step_limit:
                raise ValueError(f"step {span - 1} of a trial is past this agent's max_len={self.max_len}; "
                                 "reset those rows first (the caches hold max_len steps)")
        policy_state, value_state = state["policy"], state["value"]
        if static or bool(reset.any()):  # those rows' convolution rings / recurrent state start from zeros
            policy_state = self.policy_net.clear(policy_state, reset, static)
            if not self.shared_trunk:
                value_state = self.value_net.clear(value_state, reset, static)
        clock = Clock(t, span, tick)
        x = self.policy_encoder.features(obs, prev_action, prev_reward, reset)  # [B, D + A + 1]
        h, policy_state = self.policy_net.step(self.policy_encoder(x), policy_state, clock)
        if self.shared_trunk:
            hv = h
        else:
            hv, value_state = self.value_net.step(self.value_encoder(x), value_state, clock)
        if static:
            state["t"].copy_(t + 1)
            state["tick"].add_(1)
            state["policy"], state["value"] = policy_state, value_state
        else:
            state = {"t": t + 1, "tick": tick + 1, "policy": policy_state, "value": value_state}
        return self.policy_head(h), self.value_head(hv).squeeze(-1), state


def build_agent(model_cfg: Mapping, obs_dim: int, num_actions: int, max_len: int) -> Agent:
    """Agent from a model config mapping (plain dict or OmegaConf DictConfig) with a "name" key.

    Unknown names, unknown options and invalid values raise ValueError before anything is built.
    """
    cfg = dataclass_by_name(MODEL_CONFIGS, model_cfg, "model")
    for key, n in (("obs_dim", obs_dim), ("num_actions", num_actions), ("max_len", max_len)):
        if not (isinstance(n, Integral) and not isinstance(n, bool) and n >= 1):
            raise ValueError(f"{key}={n!r} is invalid: expected an integer >= 1")
    return Agent(cfg, int(obs_dim), int(num_actions), int(max_len))


def preset_table(settings: dict[str, tuple[int, int, int]] | None = None) -> str:
    """Parameter counts of every preset / default config in the bandit and maze settings."""
    settings = settings or {"bandit": (1, 5, 100), "maze": (MAZE_OBS_DIM, 3, 500)}  # (obs_dim, actions, T)
    lines = [f"{'setting':<8} {'model':<50} {'policy':>9} {'value':>9} {'total':>9}"]
    for setting, (obs_dim, num_actions, T) in settings.items():
        encoder = {"encoder_hidden": SNAIL_PRESETS["snail"][setting]["encoder_hidden"]}
        rows = [{"name": "snail", "preset": setting},
                {"name": "snail", "preset": setting, "shared_trunk": True},
                {"name": "tc_only", "preset": setting}, {"name": "attn_only", "preset": setting},
                {"name": "transformer", **encoder}, {"name": "transformer", "shared_trunk": True, **encoder},
                {"name": "lstm", **encoder}, {"name": "lstm", "cell": "gru", **encoder},
                {"name": "lstm", "shared_trunk": True, **encoder}]
        for cfg in rows:
            agent = build_agent(cfg, obs_dim, num_actions, T)
            label = " ".join([cfg["name"]] + [f"{k}={v}" for k, v in cfg.items() if k != "name" and v])
            policy, value = agent.num_params("policy"), agent.num_params("value")
            lines.append(f"{setting:<8} {label:<50} {policy:>9,} {value:>9,} {policy + value:>9,}")
    return "\n".join(lines)


if __name__ == "__main__":
    print("bandit: obs_dim 1, 5 actions, T=100;  maze: obs_dim "
          f"{MAZE_OBS_DIM} (view_size 3), 3 actions, T=500\n")
    print(preset_table())
