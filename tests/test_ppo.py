import pytest
import torch

from snail.config import ConfigError
from snail.ppo import PPOConfig, compute_gae, entropy_coefficients, policy_weights, ppo_update
from snail.rollout import TrialBatch


def reference_gae(rewards, values, length, gamma, lam):
    """Textbook GAE for one trial of `length` steps whose last step is terminal."""
    adv = [0.0] * length
    running = 0.0
    for t in reversed(range(length)):
        next_value = values[t + 1] if t + 1 < length else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


def test_gae_matches_reference_with_ragged_trials():
    gen = torch.Generator().manual_seed(0)
    rewards = torch.randn(3, 6, generator=gen)
    values = torch.randn(3, 6, generator=gen)
    lengths = [6, 4, 1]
    mask = torch.arange(6)[None, :] < torch.tensor(lengths)[:, None]
    adv, ret = compute_gae(rewards * mask, values, mask, gamma=0.9, lam=0.8)
    for i, length in enumerate(lengths):
        expected = reference_gae(rewards[i].tolist(), values[i].tolist(), length, 0.9, 0.8)
        torch.testing.assert_close(adv[i, :length], torch.tensor(expected), rtol=1e-5, atol=1e-5)
        assert torch.all(adv[i, length:] == 0)
        torch.testing.assert_close(ret[i, :length], adv[i, :length] + values[i, :length])


def test_gae_lambda_one_gives_discounted_returns():
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[0.5, -1.0, 4.0]])
    _, ret = compute_gae(rewards, values, torch.ones(1, 3, dtype=torch.bool), gamma=0.5, lam=1.0)
    torch.testing.assert_close(ret, torch.tensor([[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]]))


@pytest.mark.parametrize("key,value,needle", [
    ("gamma", 1.5, "algo.gamma=1.5"),
    ("lr_schedule", "cosine", "'linear' or 'constant'"),
    ("minibatch_trials", 1000, "num_envs=256"),
])
def test_ppo_config_rejects_bad_values(key, value, needle):
    with pytest.raises(ValueError, match=needle):
        PPOConfig(**{key: value})


def test_ppo_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown algo option\(s\) \['lr_rate'\]"):
        PPOConfig.from_mapping({"lr_rate": 1e-3})


class TablePolicy(torch.nn.Module):
    """Logits that ignore the history, and a constant value: enough to check the update's direction."""

    def __init__(self, num_actions):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(num_actions))
        self.value = torch.nn.Parameter(torch.zeros(()))

    def param_groups(self):
        return {"policy": [self.logits], "value": [self.value]}

    def forward(self, obs, prev_action, prev_reward):
        n, t = prev_action.shape
        return self.logits.expand(n, t, -1), self.value.expand(n, t)


def test_ppo_update_moves_policy_towards_rewarded_action():
    torch.manual_seed(0)
    n, t = 32, 5
    actions = torch.randint(0, 2, (n, t))
    batch = TrialBatch(obs=torch.zeros(n, t, 1), prev_action=torch.zeros(n, t, dtype=torch.int64),
                       prev_reward=torch.zeros(n, t), actions=actions,
                       logprobs=torch.full((n, t), -torch.log(torch.tensor(2.0))), values=torch.zeros(n, t),
                       rewards=(actions == 1).float(), mask=torch.ones(n, t, dtype=torch.bool))
    policy = TablePolicy(2)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    stats = ppo_update(policy, optimizer, batch, PPOConfig(num_envs=n, minibatch_trials=8, epochs=2))
    assert policy.logits[1] > policy.logits[0] + 0.1
    assert policy.value > 0  # returns are positive on average
    assert stats["clip_fraction"] >= 0 and stats["approx_kl"] >= 0


def test_entropy_coefficients_switch_at_the_first_flagged_step_of_each_trial():
    obs = torch.zeros(2, 6, 3)
    obs[0, 2, -1] = 1.0  # trial 0: episode 2 starts at step 2
    obs[0, 4, -1] = 1.0  # and episode 3 at step 4
    cfg = PPOConfig(ent_coef=0.02, ent_coef_later_episodes=0.1)
    weights = entropy_coefficients(obs, cfg)
    assert torch.allclose(weights[0], torch.tensor([0.02, 0.02, 0.1, 0.1, 0.1, 0.1]))
    assert torch.allclose(weights[1], torch.full((6,), 0.02))  # one inner episode: never flagged
    assert entropy_coefficients(obs, PPOConfig(ent_coef=0.02)) == 0.02


@pytest.mark.parametrize("flag_step,moves", [(None, False), (2, True)])
def test_later_episodes_entropy_bonus_acts_only_where_a_later_episode_is(flag_step, moves):
    """No reward (all advantages 0) and no bonus on episode 1: only the later episodes' bonus can move the
    policy, towards uniform, and only in trials that have a later episode."""
    n, t = 8, 4
    obs = torch.zeros(n, t, 1)
    if flag_step is not None:
        obs[:, flag_step, -1] = 1.0
    batch = TrialBatch(obs=obs, prev_action=torch.zeros(n, t, dtype=torch.int64), prev_reward=torch.zeros(n, t),
                       actions=torch.zeros(n, t, dtype=torch.int64), logprobs=torch.full((n, t), -0.127),
                       values=torch.zeros(n, t), rewards=torch.zeros(n, t), mask=torch.ones(n, t, dtype=torch.bool))
    policy = TablePolicy(2)
    with torch.no_grad():
        policy.logits[0] = 2.0
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    cfg = PPOConfig(num_envs=n, minibatch_trials=n, epochs=1, ent_coef=0.0, ent_coef_later_episodes=0.5)
    ppo_update(policy, optimizer, batch, cfg)
    gap = float(policy.logits[0] - policy.logits[1])
    assert (gap < 1.99) == moves, gap


def test_policy_weights_switch_at_the_first_flagged_step_and_refuse_a_negative_weight():
    obs = torch.zeros(2, 5, 3)
    obs[0, 3, -1] = 1.0  # trial 0: episode 2 starts at step 3
    weights = policy_weights(obs, PPOConfig(policy_weight_later_episodes=3.0))
    assert torch.equal(weights[0], torch.tensor([1.0, 1.0, 1.0, 3.0, 3.0]))
    assert torch.equal(weights[1], torch.ones(5))
    assert policy_weights(obs, PPOConfig()) == 1.0  # the default weighs every step alike
    with pytest.raises(ConfigError, match="policy_weight_later_episodes=-1"):
        PPOConfig(policy_weight_later_episodes=-1)


@pytest.mark.parametrize("weight,direction", [(0.0, -1), (1.0, 0), (3.0, 1)])
def test_later_episodes_policy_weight_decides_between_episodes_that_pull_apart(weight, direction):
    """Episode 1 rewards action 0 and episode 2 action 1, each action taken equally often in each: with weight 1
    the two pulls cancel exactly; a heavier episode 2 moves the policy towards action 1, a weightless one towards
    action 0."""
    n, t = 4, 4
    obs = torch.zeros(n, t, 1)
    obs[:, 2, -1] = 1.0  # episode 2 starts at step 2
    actions = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1]])
    later = torch.arange(t) >= 2
    rewards = torch.where(later, actions == 1, actions == 0).float()
    batch = TrialBatch(obs=obs, prev_action=torch.zeros(n, t, dtype=torch.int64), prev_reward=torch.zeros(n, t),
                       actions=actions, logprobs=torch.full((n, t), -torch.log(torch.tensor(2.0))),
                       values=torch.zeros(n, t), rewards=rewards, mask=torch.ones(n, t, dtype=torch.bool))
    policy = TablePolicy(2)
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    cfg = PPOConfig(num_envs=n, minibatch_trials=n, epochs=1, gamma=0.0, ent_coef=0.0,
                    policy_weight_later_episodes=weight)
    ppo_update(policy, optimizer, batch, cfg)
    gap = float(policy.logits[1] - policy.logits[0])
    if direction == 0:
        assert abs(gap) < 1e-6, gap
    else:
        assert gap * direction > 0.1, gap
