"""Models: causality, cached step == parallel forward (per-row resets), presets, gradients, config errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from snail.agent import MAZE_OBS_DIM, build_agent
from snail.blocks import TCBlock

# Small configs of every architecture (the presets are covered below).
SMALL = {
    "snail": {"name": "snail", "preset": None, "embed_dim": 6, "encoder_hidden": [8],
              "policy_blocks": [["tc", 4], ["attn", 4, 5], ["tc", 3]],
              "value_blocks": [["attn", 3, 2], ["tc", 3]]},
    "snail_shared": {"name": "snail", "preset": None, "embed_dim": 6, "shared_trunk": True,
                     "policy_blocks": [["tc", 4], ["attn", 4, 5]]},
    "tc_only": {"name": "tc_only", "preset": None, "embed_dim": 6,
                "policy_blocks": [["tc", 4], ["tc", 3]], "value_blocks": [["tc", 3]]},
    "attn_only": {"name": "attn_only", "preset": None, "embed_dim": 6,
                  "policy_blocks": [["attn", 4, 4], ["attn", 3, 5]], "value_blocks": [["attn", 2, 2]]},
    "transformer": {"name": "transformer", "d_model": 8, "n_layers": 2, "n_heads": 2},
    "transformer_shared": {"name": "transformer", "d_model": 8, "n_layers": 1, "n_heads": 4,
                           "shared_trunk": True},
    "lstm": {"name": "lstm", "hidden_size": 8, "embed_dim": 6, "encoder_hidden": [5]},
    "gru": {"name": "lstm", "cell": "gru", "hidden_size": 8, "embed_dim": 6, "num_layers": 2},
}
OBS_DIM, ACTIONS, MAX_LEN = 3, 4, 12

# (model_cfg, obs_dim, num_actions, T) of the presets and defaults in their settings.
PRESETS = {
    "snail_bandit": ({"name": "snail", "preset": "bandit"}, 1, 5, 100),
    "snail_maze": ({"name": "snail", "preset": "maze"}, MAZE_OBS_DIM, 3, 500),
    "snail_bandit_shared": ({"name": "snail", "preset": "bandit", "shared_trunk": True}, 1, 5, 100),
    "tc_only_bandit": ({"name": "tc_only", "preset": "bandit"}, 1, 5, 100),
    "tc_only_maze": ({"name": "tc_only", "preset": "maze"}, MAZE_OBS_DIM, 3, 500),
    "attn_only_bandit": ({"name": "attn_only", "preset": "bandit"}, 1, 5, 100),
    "attn_only_maze": ({"name": "attn_only", "preset": "maze"}, MAZE_OBS_DIM, 3, 500),
    "transformer": ({"name": "transformer"}, 1, 5, 100),
    "lstm": ({"name": "lstm"}, 1, 5, 100),
    "gru": ({"name": "lstm", "cell": "gru"}, 1, 5, 100),
}


def make_agent(cfg, obs_dim=OBS_DIM, num_actions=ACTIONS, max_len=MAX_LEN, seed=0):
    torch.manual_seed(seed)
    agent = build_agent(cfg, obs_dim, num_actions, max_len)
    # O(1) logits, so that the comparisons below are not made easy by the small-gain policy head.
    nn.init.normal_(agent.policy_head.weight, std=1 / math.sqrt(agent.policy_head.in_features))
    return agent


def random_inputs(batch, steps, obs_dim, num_actions, seed=1):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, steps, obs_dim, generator=g)
    obs[..., -1] = (torch.rand(batch, steps, generator=g) < 0.2).float()  # inner-episode flag
    prev_action = torch.randint(-1, num_actions, (batch, steps), generator=g)
    prev_reward = torch.randn(batch, steps, generator=g)
    return obs, prev_action, prev_reward


@pytest.mark.parametrize("arch", SMALL)
def test_causality(arch):
    agent = make_agent(SMALL[arch])
    obs, prev_action, prev_reward = random_inputs(2, MAX_LEN, OBS_DIM, ACTIONS)
    with torch.no_grad():
        logits, values = agent(obs, prev_action, prev_reward)
        for t_change in (1, 5, MAX_LEN - 1):
            for which in range(3):
                inputs = [obs.clone(), prev_action.clone(), prev_reward.clone()]
                if which == 0:
                    inputs[0][:, t_change] += 1.0
                elif which == 1:
                    inputs[1][:, t_change] = (inputs[1][:, t_change] + 2) % ACTIONS
                else:
                    inputs[2][:, t_change] -= 1.0
                logits2, values2 = agent(*inputs)
                torch.testing.assert_close(logits2[:, :t_change], logits[:, :t_change], rtol=0, atol=1e-6)
                torch.testing.assert_close(values2[:, :t_change], values[:, :t_change], rtol=0, atol=1e-6)
                assert not torch.allclose(logits2[:, t_change:], logits[:, t_change:])


def segment_starts(rng, batch, steps, max_len, bounded):
    """reset [batch, steps]: each row's trials start at its own times, each trial at most max_len long
    when `bounded` (else up to `steps`, longer than the receptive field of the TC blocks)."""
    reset = np.zeros((batch, steps), dtype=bool)
    longest = max_len if bounded else steps
    for b in range(batch):
        t = 0
        while t < steps:
            reset[b, t] = True
            t += int(rng.integers(1, longest + 1)) if b > 0 else longest  # row 0: full-length trials
    return torch.from_numpy(reset)


def check_step_matches_forward(agent, obs_dim, num_actions, max_len, batch, steps, seed=0):
    bounded = agent.step_limit is not None
    reset = segment_starts(np.random.default_rng(seed), batch, steps, max_len, bounded)
    obs, prev_action, prev_reward = random_inputs(batch, steps, obs_dim, num_actions, seed)
    with torch.no_grad():
        state = agent.initial_state(batch)
        step_logits, step_values = [], []
        for t in range(steps):  # at reset steps prev_action / prev_reward are garbage: the agent ignores them
            logits, values, state = agent.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state,
                                               reset[:, t])
            step_logits.append(logits)
            step_values.append(values)
        step_logits = torch.stack(step_logits, 1)  # [B, S, A]
        step_values = torch.stack(step_values, 1)  # [B, S]
        assert step_logits.shape == (batch, steps, num_actions) and step_values.shape == (batch, steps)
        for b in range(batch):
            starts = reset[b].nonzero().flatten().tolist() + [steps]
            for s0, s1 in zip(starts[:-1], starts[1:], strict=True):
                segment = (obs[b:b + 1, s0:s1], prev_action[b:b + 1, s0:s1], prev_reward[b:b + 1, s0:s1])
                logits, values = agent(*segment)
                torch.testing.assert_close(step_logits[b, s0:s1], logits[0], rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(step_values[b, s0:s1], values[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", SMALL)
def test_step_matches_forward_with_per_row_resets(arch):
    agent = make_agent(SMALL[arch])
    check_step_matches_forward(agent, OBS_DIM, ACTIONS, MAX_LEN, batch=5, steps=3 * MAX_LEN)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_step_matches_forward(preset):
    cfg, obs_dim, num_actions, T = PRESETS[preset]
    agent = make_agent(cfg, obs_dim, num_actions, T)
    steps = T if agent.step_limit is not None else T + T // 2
    check_step_matches_forward(agent, obs_dim, num_actions, T, batch=3, steps=steps)


def test_all_rows_start_on_first_step_like_the_rollout():
    agent = make_agent(SMALL["snail"])
    obs, prev_action, prev_reward = random_inputs(4, MAX_LEN, OBS_DIM, ACTIONS)
    prev_action[:, 0] = -1
    prev_reward[:, 0] = 0.0
    with torch.no_grad():
        logits, values = agent(obs, prev_action, prev_reward)
        state = agent.initial_state(4)
        for t in range(MAX_LEN):
            lt, vt, state = agent.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state,
                                       torch.full((4,), t == 0))
            torch.testing.assert_close(lt, logits[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(vt, values[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["snail", "attn_only", "transformer"])
def test_stepping_past_max_len_raises(arch):
    agent = make_agent(SMALL[arch])
    obs, prev_action, prev_reward = random_inputs(2, MAX_LEN + 1, OBS_DIM, ACTIONS)
    state = agent.initial_state(2)
    with torch.no_grad():
        for t in range(MAX_LEN):  # row 1 starts a second trial at t = 3
            _, _, state = agent.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state,
                                     torch.tensor([t == 0, t == 3]))
        with pytest.raises(ValueError, match="max_len=12"):  # row 0 would take its 13th step
            agent.step(obs[:, -1], prev_action[:, -1], prev_reward[:, -1], state, torch.tensor([False, True]))
        with pytest.raises(ValueError, match="max_len=12"):
            agent(obs, prev_action, prev_reward)
        # row 0 starts a new trial instead: fine
        agent.step(obs[:, -1], prev_action[:, -1], prev_reward[:, -1], state, torch.tensor([True, False]))


def dense_conv_params(c_in, filters, T):
    """Parameters of TC(T, filters) on c_in channels and its output width."""
    n, total = math.ceil(math.log2(T)), 0
    for i in range(n):
        total += 2 * (2 * filters) * (c_in + i * filters) + 2 * filters  # kernel 2, xf and xg, biases
    return total, c_in + n * filters


def snail_params(in_features, blocks, embed, T, heads):
    total, width = in_features * embed + embed, embed  # encoder FC
    for kind, *sizes in blocks:
        if kind == "tc":
            p, width = dense_conv_params(width, sizes[0], T)
            total += p
        else:
            k, v = sizes
            total += width * (2 * k + v) + 2 * k + v
            width += v
    return total + heads * width + heads


def test_preset_parameter_counts():
    agent = build_agent({"name": "snail", "preset": "bandit"}, 1, 5, 100)
    policy = snail_params(7, [["tc", 32], ["tc", 32], ["attn", 32, 32]], 32, 100, heads=5)
    value = snail_params(7, [["tc", 16], ["tc", 16], ["attn", 16, 16]], 32, 100, heads=1)
    assert (agent.num_params("policy"), agent.num_params("value")) == (policy, value) == (479_973, 135_169)
    assert agent.num_params() == sum(p.numel() for p in agent.parameters())

    maze = build_agent({"name": "snail", "preset": "maze"}, MAZE_OBS_DIM, 3, 500)
    encoder = (MAZE_OBS_DIM + 3 + 1) * 128 + 128  # encoder hidden layer
    blocks = [["tc", 32], ["attn", 16, 16], ["tc", 32], ["attn", 16, 16]]
    policy = encoder + snail_params(128, blocks, 64, 500, 3)
    value = encoder + snail_params(128, [["tc", 16], ["tc", 16]], 64, 500, 1)
    assert (maze.num_params("policy"), maze.num_params("value")) == (policy, value)
    assert len(maze.policy_net.layers[0].blocks) == 9  # ceil(log2 500)

    d, L = 64, 4  # transformer defaults: per layer 12 d^2 + 13 d, positions, final LayerNorm
    transformer = build_agent({"name": "transformer"}, 1, 5, 100)
    trunk = L * (12 * d * d + 13 * d) + 100 * d + 2 * d + 7 * d + d
    assert transformer.num_params("policy") == trunk + 5 * d + 5
    lstm = build_agent({"name": "lstm"}, 1, 5, 100)
    assert lstm.num_params("value") == (7 * 32 + 32) + 4 * 256 * (32 + 256 + 2) + 256 + 1


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_output_shapes(preset):
    cfg, obs_dim, num_actions, T = PRESETS[preset]
    agent = build_agent(cfg, obs_dim, num_actions, T)
    obs, prev_action, prev_reward = random_inputs(2, T, obs_dim, num_actions)
    with torch.no_grad():
        logits, values = agent(obs, prev_action, prev_reward)
        assert logits.shape == (2, T, num_actions) and values.shape == (2, T)
        assert logits.dtype == values.dtype == torch.float32
        logits, values, _ = agent.step(obs[:, 0], prev_action[:, 0], prev_reward[:, 0],
                                       agent.initial_state(2), torch.ones(2, dtype=torch.bool))
        assert logits.shape == (2, num_actions) and values.shape == (2,)


@pytest.mark.parametrize("arch", [*SMALL, "snail_bandit"])
def test_gradients_reach_every_parameter(arch):
    if arch == "snail_bandit":
        agent, obs_dim, actions, T = build_agent({"name": "snail"}, 1, 5, 16), 1, 5, 16
    else:
        agent, obs_dim, actions, T = make_agent(SMALL[arch]), OBS_DIM, ACTIONS, MAX_LEN
    logits, values = agent(*random_inputs(3, T, obs_dim, actions))
    (logits.square().mean() + values.square().mean()).backward()
    for name, p in agent.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fused_tc_block_matches_plain_autograd():
    torch.manual_seed(0)
    for T in (1, 5, 16, 37):
        tc = TCBlock(6, T, 4).double()
        x = torch.randn(3, T, 6, dtype=torch.double, requires_grad=True)
        fused, plain = tc(x), tc.forward_reference(x)
        torch.testing.assert_close(fused, plain, rtol=0, atol=1e-12)
        g = torch.randn_like(fused)
        grads_fused = torch.autograd.grad(fused, [x, *tc.parameters()], g)
        grads_plain = torch.autograd.grad(plain, [x, *tc.parameters()], g)
        for a, b in zip(grads_fused, grads_plain, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    tc = TCBlock(3, 5, 2).double()
    assert torch.autograd.gradcheck(tc, (torch.randn(2, 5, 3, dtype=torch.double, requires_grad=True),))


@pytest.mark.parametrize("arch", SMALL)
def test_bf16_autocast_training_pass(arch):
    agent = make_agent(SMALL[arch])
    batch = random_inputs(3, MAX_LEN, OBS_DIM, ACTIONS)
    with torch.no_grad():
        logits32, values32 = agent(*batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, values = agent(*batch)
    assert logits.dtype == values.dtype == torch.float32
    torch.testing.assert_close(logits, logits32, rtol=0, atol=5e-2)
    torch.testing.assert_close(values, values32, rtol=0, atol=5e-2)
    (logits.square().mean() + values.square().mean()).backward()
    for name, p in agent.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name


def test_first_step_ignores_prev_action_and_reward():
    agent = make_agent(SMALL["snail"])
    obs, prev_action, prev_reward = random_inputs(1, 5, OBS_DIM, ACTIONS)
    with torch.no_grad():
        a = agent(obs, prev_action, prev_reward)
        prev_action[:, 0], prev_reward[:, 0] = -1, 0.0
        b = agent(obs, prev_action, prev_reward)
    torch.testing.assert_close(a, b)


def test_omegaconf_config_and_defaults():
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({"name": "snail", "policy_blocks": [["tc", 8], ["attn", 4, 4]]})
    agent = build_agent(cfg, 2, 3, 10)
    assert agent.cfg.preset == "bandit"
    assert agent.cfg.value_blocks == [["tc", 16], ["tc", 16], ["attn", 16, 16]]
    assert agent.cfg.policy_blocks == [["tc", 8], ["attn", 4, 4]]
    assert isinstance(agent.cfg.policy_blocks, list)
    assert build_agent({"name": "tc_only"}, 1, 5, 100).cfg.policy_blocks == [["tc", 32], ["tc", 32]]


@pytest.mark.parametrize("cfg,needles", [
    ({"name": "mamba"}, ["'mamba'", "snail", "transformer", "lstm", "tc_only", "attn_only"]),
    ({}, ["model.name=None"]),
    ({"name": "snail", "n_layers": 2}, ["n_layers", "policy_blocks"]),
    ({"name": "snail", "preset": "atari"}, ["'atari'", "bandit", "maze"]),
    ({"name": "snail", "policy_blocks": [["tc", 32], ["conv", 3]]},
     ["policy_blocks", "conv", "['tc', filters]"]),
    ({"name": "snail", "policy_blocks": [["attn", 32]]}, ["attn", "key_size"]),
    ({"name": "snail", "value_blocks": [["tc", 0]]}, ["value_blocks", "positive"]),
    ({"name": "snail", "policy_blocks": []}, ["policy_blocks=[]"]),
    ({"name": "tc_only", "policy_blocks": [["attn", 8, 8]]}, ["tc_only", "['tc', filters]"]),
    ({"name": "attn_only", "policy_blocks": [["tc", 8]]}, ["['tc', 8]", "['attn', key_size, value_size]"]),
    ({"name": "snail", "shared_trunk": True, "value_blocks": [["tc", 8]]}, ["value_blocks", "shared_trunk"]),
    ({"name": "snail", "shared_trunk": "yes"}, ["shared_trunk='yes'", "true or false"]),
    ({"name": "snail", "embed_dim": 0}, ["embed_dim=0"]),
    ({"name": "snail", "encoder_hidden": [64, -1]}, ["encoder_hidden", "integers >= 1"]),
    ({"name": "transformer", "d_model": 30, "n_heads": 4}, ["n_heads=4", "dividing d_model=30"]),
    ({"name": "transformer", "n_layers": 0}, ["n_layers=0"]),
    ({"name": "transformer", "hidden_size": 64}, ["hidden_size", "d_model"]),
    ({"name": "lstm", "cell": "rnn"}, ["cell='rnn'", "'lstm' or 'gru'"]),
    ({"name": "lstm", "hidden_size": 2.5}, ["hidden_size=2.5"]),
])
def test_bad_configs_raise_value_error_naming_value_and_allowed(cfg, needles):
    with pytest.raises(ValueError) as err:
        build_agent(cfg, 1, 5, 100)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="max_len=0"):
        build_agent({"name": "lstm"}, 1, 5, 0)
    with pytest.raises(ValueError, match="num_actions"):
        build_agent({"name": "lstm"}, 1, 0, 10)
