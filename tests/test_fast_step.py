"""The rollouts' fast cached step (snail/fast_step.py): the static step, torch.compile and CUDA-graph replay all
give the eager step's results, and the trainer's switch checks its value before any work."""

import numpy as np
import pytest
import torch
from test_models import ACTIONS, MAX_LEN, OBS_DIM, SMALL, make_agent, random_inputs, segment_starts

from snail.config import ConfigError
from snail.config.schemas import compose_config
from snail.envs import env_id_of, make_vector_env
from snail.fast_step import FastStep, resolve_step_mode
from snail.finite import NonFiniteError, tensors_of
from snail.train import Workspace
from snail.trials import AgentPolicy, play_trials

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def run_steps(step, batch, steps, seed=0):
    """Outputs of `step(obs, prev_action, prev_reward, reset)` over `steps` steps with per-row resets (each
    trial at most MAX_LEN long): logits [B, S, A], values [B, S]."""
    reset = segment_starts(np.random.default_rng(seed), batch, steps, MAX_LEN, bounded=True)
    obs, prev_action, prev_reward = random_inputs(batch, steps, OBS_DIM, ACTIONS, seed)
    logits, values = [], []
    for t in range(steps):
        lt, vt = step(obs[:, t], prev_action[:, t], prev_reward[:, t], reset[:, t])
        logits.append(lt.clone())
        values.append(vt.clone())
    return torch.stack(logits, 1), torch.stack(values, 1)


def eager_outputs(agent, batch, steps):
    return run_steps(FastStep(agent, batch, "eager"), batch, steps)


@pytest.mark.parametrize("arch", SMALL)
def test_static_step_matches_eager_step(arch):
    """Fixed shapes (all max_len positions, masked), unconditional clearing and in-place t / tick change no
    result, with rows resetting at different times over several trials."""
    agent = make_agent(SMALL[arch])
    state = agent.initial_state(5)

    def static(obs, prev_action, prev_reward, reset):
        logits, values, _ = agent.step(obs, prev_action, prev_reward, state, reset, static=True)
        return logits, values

    with torch.no_grad():
        expected = eager_outputs(agent, 5, 3 * MAX_LEN)
        got = run_steps(static, 5, 3 * MAX_LEN)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    assert int(state["tick"]) == 3 * MAX_LEN  # updated in place


@pytest.mark.parametrize("arch", ["snail", "lstm"])
def test_compiled_step_matches_eager_step(arch):
    """torch.compile of the static step (on CPU: Inductor's C++ kernels) gives the eager step's outputs."""
    agent = make_agent(SMALL[arch])
    with torch.no_grad():
        expected = eager_outputs(agent, 4, 2 * MAX_LEN)
    got = run_steps(FastStep(agent, 4, "compile"), 4, 2 * MAX_LEN)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("arch", SMALL)
def test_cuda_graph_step_matches_eager_step(arch):
    agent = make_agent(SMALL[arch]).cuda()
    eager, graph = FastStep(agent, 5, "eager"), FastStep(agent, 5, "graph")
    expected = run_steps(lambda *x: eager(*(v.cuda() for v in x)), 5, 3 * MAX_LEN)
    got = run_steps(lambda *x: graph(*(v.cuda() for v in x)), 5, 3 * MAX_LEN)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@needs_cuda
def test_cuda_graph_rollout_matches_eager_rollout():
    """A whole training rollout (sampling included) through the captured graph plays the same trials."""
    agent = make_agent({"name": "snail", "preset": "bandit"}, 1, 5, 100).cuda()
    vec_env = make_vector_env(env_id_of("bandit"), 16, {})
    trials = [play_trials(AgentPolicy(agent, 16, seed=3, keep_outputs=True, step_mode=mode), vec_env, seed=7)
              for mode in ("eager", "graph")]
    np.testing.assert_array_equal(trials[0].actions, trials[1].actions)
    torch.testing.assert_close(trials[0].outputs["value"], trials[1].outputs["value"], rtol=1e-5, atol=1e-5)


def test_policy_with_compiled_step_plays_the_same_trials():
    """AgentPolicy(step_mode="compile") samples the same actions as the eager policy from the same seed, and
    keeps its compiled step across rollouts."""
    agent = make_agent(SMALL["snail"], obs_dim=1, num_actions=5, max_len=10)
    vec_env = make_vector_env(env_id_of("bandit"), 6, {"pulls": 10})
    eager = AgentPolicy(agent, 6, seed=3, keep_outputs=True)
    compiled = AgentPolicy(agent, 6, seed=3, keep_outputs=True, step_mode="compile")
    for seed in (7, 100):  # two rollouts in a row with one policy
        expected, got = play_trials(eager, vec_env, seed), play_trials(compiled, vec_env, seed)
        np.testing.assert_array_equal(got.actions, expected.actions)
        for key in ("logprob", "value"):
            torch.testing.assert_close(got.outputs[key], expected.outputs[key], rtol=1e-5, atol=1e-5)


def test_a_wrongly_compiled_step_is_refused_before_any_rollout(monkeypatch):
    """FastStep checks the compiled step against the uncompiled one (torch 2.11 compiled the TC rings wrong);
    here a 'compiler' that perturbs the logits from the second step on stands in for such a version."""
    def miscompile(fn, **_kwargs):
        calls = []

        def wrong(*args):
            calls.append(1)
            logits, values = fn(*args)
            return (logits + 0.01 if len(calls) > 1 else logits), values
        return wrong

    monkeypatch.setattr(torch, "compile", miscompile)
    with pytest.raises(ValueError, match=r"run.rollout_step='compile' computes the step wrong with torch .* \("
                                         r"differs from the uncompiled step by 0.01 > 0.0001\); use "
                                         r"run.rollout_step=eager"):
        FastStep(make_agent(SMALL["snail"]), 3, "compile")
    monkeypatch.setattr(torch, "compile", lambda fn, **_kwargs: fn)  # a correct one: accepted, state fresh
    fast = FastStep(make_agent(SMALL["snail"]), 3, "compile")
    assert int(fast.state["tick"]) == 0 and not fast.state["t"].any()
    assert all(not tensor.any() for tensor in tensors_of(fast.state))


def test_step_modes_resolve_and_refuse():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_step_mode("auto", cpu) == "eager" and resolve_step_mode("auto", cuda) == "graph"
    assert resolve_step_mode("compile", cpu) == "compile"
    with pytest.raises(ValueError, match="'graph' needs a CUDA device"):
        resolve_step_mode("graph", cpu)
    with pytest.raises(ValueError, match="'fast' is invalid"):
        resolve_step_mode("fast", cpu)
    with pytest.raises(ValueError, match="CUDA device"):
        FastStep(make_agent(SMALL["lstm"]), 2, "graph")


@pytest.mark.parametrize(("value", "message"), [
    ("fast", r"run.rollout_step.*one of \['auto', 'eager', 'compile', 'graph'\]"),
    ("graph", r"run.rollout_step='graph' is invalid: 'graph' needs a CUDA device, not cpu"),
])
def test_trainer_refuses_a_bad_rollout_step(tmp_path, value, message):
    if value == "graph" and torch.cuda.is_available():
        pytest.skip("graph is valid with a GPU")
    with pytest.raises(ConfigError, match=message):
        cfg = compose_config("config", ["device=cpu", f"run.rollout_step={value}"])
        Workspace(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_policy_recovers_from_a_non_finite_step():
    """After a step with NaN weights raised NonFiniteError, the policy's caches hold no NaN (the static step
    reads every cache position, masked, and a NaN value times a zero weight is NaN): once the weights are good
    again (the trainer's rollback), the same policy plays exactly what a fresh one plays."""
    agent = make_agent(SMALL["snail"], obs_dim=1, num_actions=5, max_len=10)
    vec_env = make_vector_env(env_id_of("bandit"), 4, {"pulls": 10})
    policy = AgentPolicy(agent, 4, seed=3)
    play_trials(policy, vec_env, seed=7)
    good = {k: v.clone() for k, v in agent.state_dict().items()}
    with torch.no_grad():
        agent.policy_encoder.mlp[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="not finite"):
        play_trials(policy, vec_env, seed=8)
    caches = list(tensors_of(policy.step.state))
    assert caches and all(bool(torch.isfinite(t).all()) for t in caches)
    agent.load_state_dict(good)
    policy.generator.manual_seed(3)
    got = play_trials(policy, vec_env, seed=9)
    expected = play_trials(AgentPolicy(agent, 4, seed=3), vec_env, seed=9)
    np.testing.assert_array_equal(got.actions, expected.actions)


@pytest.mark.parametrize("mode", ["eager", "compile"])
def test_policy_refuses_to_step_past_max_len(mode):
    """The static step has no check of its own: the policy stops a row that would pass max_len (a GPU would
    hit a device-side assert instead)."""
    agent = make_agent(SMALL["attn_only"], obs_dim=1, num_actions=5, max_len=3)
    policy = AgentPolicy(agent, 2, step_mode=mode)
    obs, prev = np.zeros((2, 1), np.float32), np.zeros(2, np.int64)
    for t in range(3):
        policy.act(obs, prev, np.zeros(2, np.float32), np.full(2, t == 0))
    with pytest.raises(ValueError, match="past this agent's max_len=3"):
        policy.act(obs, prev, np.zeros(2, np.float32), np.zeros(2, bool))
