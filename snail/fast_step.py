"""The agent's cached step as one CUDA graph replay or one compiled function, for rollouts.

`Agent.step(..., static=True)` has fixed shapes and never reads a value on the host, so PyTorch's own engines
can take it whole:

    "eager"    the plain step (`static=False`): no warm-up, the default on CPU
    "compile"  torch.compile(fullgraph=True) of the static step (Inductor: fused kernels, no Python per op)
    "graph"    the static step captured once as a torch.cuda.CUDAGraph and replayed (CUDA only): a step is
               one launch instead of hundreds of small kernels, so the GPU no longer waits on Python

`FastStep(agent, batch_size, mode)` owns the step state and, for "graph", static input buffers;
`fast(obs, prev_action, prev_reward, reset) -> (logits [B, A], values [B])` takes device tensors. The outputs
of "graph" live in the graph's static buffers: use them before the next call. All modes give the eager step's
results (tests/test_fast_step.py); "compile" checks that before the first rollout, as some torch versions
compile it wrong.
"""

from __future__ import annotations

import torch

from snail.finite import tensors_of

STEP_MODES = ("auto", "eager", "compile", "graph")


def resolve_step_mode(mode: str, device: torch.device) -> str:
    """"auto" -> "graph" on CUDA, else "eager" (on a 2-core CPU the compiled step measured no faster than eager
    in the whole training loop: BENCHMARKS.md); "graph" off CUDA is an error."""
    if mode not in STEP_MODES:
        raise ValueError(f"rollout step mode {mode!r} is invalid: expected one of {list(STEP_MODES)}")
    if mode == "auto":
        return "graph" if device.type == "cuda" else "eager"
    if mode == "graph" and device.type != "cuda":
        raise ValueError(f"'graph' needs a CUDA device, not {device} (allowed there: eager, compile)")
    return mode


class FastStep:
    """`agent.step` for rollouts of `batch_size` rows, by `mode` (see the module doc; not "auto")."""

    def __init__(self, agent, batch_size: int, mode: str = "eager", warmup: int = 3):
        if mode not in STEP_MODES[1:]:
            raise ValueError(f"FastStep mode {mode!r} is invalid: expected one of {list(STEP_MODES[1:])}")
        self.agent, self.batch_size, self.mode = agent, int(batch_size), mode
        param = next(agent.parameters())
        self.device = param.device
        self.state = agent.initial_state(self.batch_size)
        if mode == "compile":
            self._step = torch.compile(self._static_step, fullgraph=True, dynamic=False)
            self._check_compiled()
        elif mode == "graph":
            self._capture(warmup)

    def _static_step(self, obs, prev_action, prev_reward, reset):
        logits, values, _ = self.agent.step(obs, prev_action, prev_reward, self.state, reset, static=True)
        return logits, values

    def _check_compiled(self, steps: int = 4, tolerance: float = 1e-4) -> None:
        """The compiled step against the uncompiled static step over a few steps of random inputs from a fresh
        state, then the state zeroed again. Some torch versions compile it wrong: with torch 2.11 the TC blocks'
        outputs differ from the second step on (up to 0.06, CPU; 2.13 matches), and a rollout would sample from
        other logits than the update then scores. A mismatch is a one-line error before any rollout."""
        B, dev = self.batch_size, self.device
        generator = torch.Generator(device=dev).manual_seed(0)
        reference = self.agent.initial_state(B)
        worst = 0.0
        with torch.no_grad():
            for i in range(min(steps, self.agent.max_len)):  # a trial's steps stay within the caches
                obs = torch.rand(B, self.agent.obs_dim, generator=generator, device=dev)
                prev_action = torch.full((B,), -1 if i == 0 else 0, device=dev)
                prev_reward = torch.rand(B, generator=generator, device=dev)
                reset = torch.full((B,), i == 0, device=dev)
                with torch._dynamo.config.patch(allow_rnn=True):
                    got = self._step(obs, prev_action, prev_reward, reset)
                expected = self.agent.step(obs, prev_action, prev_reward, reference, reset, static=True)[:2]
                worst = max(worst, *((g - e).abs().max().item() for g, e in zip(got, expected, strict=True)))
        if not worst <= tolerance:  # also catches NaN
            raise ValueError(f"run.rollout_step='compile' computes the step wrong with torch {torch.__version__} "
                             f"(differs from the uncompiled step by {worst:.3g} > {tolerance:g}); use "
                             "run.rollout_step=eager (or graph on CUDA)")
        self.reset_state()
        self.state["t"].zero_()
        self.state["tick"].zero_()

    def _capture(self, warmup: int) -> None:
        if self.device.type != "cuda":
            raise ValueError(f"FastStep mode 'graph' needs the agent on a CUDA device, not {self.device}")
        B, dev = self.batch_size, self.device
        self.inputs = (torch.zeros(B, self.agent.obs_dim, device=dev), torch.full((B,), -1, device=dev),
                       torch.zeros(B, device=dev), torch.ones(B, dtype=torch.bool, device=dev))
        # On the agent's own GPU (cuda:N need not be the current device: a capture stream of another device
        # would record nothing). Warm-up on a side stream (cuBLAS / SDPA workspaces, lazy inits) first, as
        # torch.cuda.graphs requires.
        with torch.cuda.device(dev), torch.no_grad():
            stream = torch.cuda.Stream(device=dev)
            stream.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(stream):
                for _ in range(warmup):
                    self._static_step(*self.inputs)
            torch.cuda.current_stream(dev).wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=torch.cuda.Stream(device=dev)):
                self.outputs = self._static_step(*self.inputs)
        self.reset_state()  # the warm-up steps wrote into the state

    def reset_state(self) -> None:
        """Zero the step state's caches in place (a captured graph stays valid). Resetting rows is enough between
        trials, except after a non-finite step: masked attention still multiplies a NaN left in the caches. (The
        integer time indices need no zeroing: every trial's first step resets its rows' `t`.)"""
        for tensor in tensors_of(self.state):
            tensor.zero_()

    @torch.no_grad()
    def __call__(self, obs, prev_action, prev_reward, reset) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, D] float32, prev_action [B] int64, prev_reward [B] float32, reset [B] bool (device
        tensors) -> logits [B, A], values [B]."""
        if self.mode == "eager":
            logits, values, self.state = self.agent.step(obs, prev_action, prev_reward, self.state, reset)
            return logits, values
        if self.mode == "compile":
            # The recurrent models' step reads nn.LSTM / nn.GRU weights (never calls the module), which Dynamo
            # refuses unless allowed.
            with torch._dynamo.config.patch(allow_rnn=True):
                return self._step(obs, prev_action, prev_reward, reset)
        for buffer, value in zip(self.inputs, (obs, prev_action, prev_reward, reset), strict=True):
            buffer.copy_(value, non_blocking=True)
        self.graph.replay()
        return self.outputs
