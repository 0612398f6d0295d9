"""SNAIL building blocks (Mishra et al. 2018, §3.1), each with a parallel `forward` and a cached `step`.

Layout is channel-last everywhere: `forward` takes [batch, time, channels], `step` takes [batch, channels] for
one time step, the block's cache and a `Clock`: `t` [batch], each row's time index within its own trial (rows
may be at different steps). When rows start a new trial, `clear(state, rows)` zeroes their convolution rings;
attention caches need no clearing, as entries from before a row's current trial are masked out by time.

`step` and `clear` update the cache in place and return it; rollouts call them under `torch.no_grad()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Clock:
    """Where the rows of a batch are at this step."""

    t: torch.Tensor  # [B] int64: each row's time index within its trial (0 = the trial's first step)
    span: int  # max(t) + 1: the cache positions in use (max_len in a static step)
    # Steps taken with this state so far; every row takes every step, so rings share a position. A 0-dim int64
    # tensor in a static step (Agent.step(static=True)), so that no value needs to be read on the host.
    tick: int | torch.Tensor


def shift_in_time(x: torch.Tensor, d: int) -> torch.Tensor:
    """y[:, t] = x[:, t - d], zeros for t < d.  x, y: [B, T, C]."""
    B, T, C = x.shape
    if d >= T:
        return x.new_zeros(B, T, C)
    return torch.cat([x.new_zeros(B, d, C), x[:, : T - d]], dim=1)


def gate_scale(filters: int) -> torch.Tensor:
    """[2F]: 2 for the xf half and 1 for the xg half of a dense block's pre-activations (see `gates`)."""
    return torch.cat([torch.full((filters,), 2.0), torch.ones(filters)])


def gates(pre: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pre [..., 2F] = (xf, xg) -> tanh(xf), sigmoid(xg), each [..., F].

    tanh(xf) = 2 sigmoid(2 xf) - 1: one sigmoid over both halves is several times faster than torch.tanh on
    CPU (scaling by 2 is exact)."""
    s_f, s_g = torch.sigmoid(pre * scale).chunk(2, dim=-1)
    return 2.0 * s_f - 1.0, s_g


class CausalConv(nn.Module):
    """Causal 1-D convolution with kernel 2 and dilation d: y_t = W_now x_t + W_past x_{t-d} + b, x_{t<0} = 0.

    Written as one matmul from `in_ch` to both taps' outputs (2 * out_ch), after which only the past tap's
    half is shifted d steps in time: on CPU this beats conv1d (no [B, C, T] transposes) and Linear on
    cat(x_t, x_{t-d}) (which copies the wide input). The step cache is a ring buffer of the last d values of
    W_past x, [B, d, out_ch], narrower than the inputs themselves; slot tick % d holds the value of d steps
    ago (zeros before the trial's start). The eager step zeroes a row's ring when its trial starts (rare); the
    static step (fixed work per step) instead reads a slot only for rows at least d steps into their trial
    (t >= d), so that it never has to clear whole rings.
    """

    def __init__(self, in_ch: int, out_ch: int, dilation: int):
        super().__init__()
        self.in_ch, self.out_ch, self.dilation = in_ch, out_ch, dilation
        self.weight = nn.Parameter(torch.empty(2 * out_ch, in_ch))  # rows: [current tap; past tap]
        self.bias = nn.Parameter(torch.empty(out_ch))
        bound = 1.0 / math.sqrt(2 * in_ch)  # nn.Conv1d's default init, fan_in = in_ch * kernel size
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.linear(x, self.weight)  # [B, T, 2 * out]
        now, past = z.split(self.out_ch, dim=-1)  # [B, T, out] each
        return now + self.bias + shift_in_time(past, self.dilation)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        return torch.zeros(batch_size, self.dilation, self.out_ch, device=device, dtype=dtype)

    def clear(self, ring: torch.Tensor, rows: torch.Tensor, static: bool = False) -> torch.Tensor:
        return ring if static else ring.masked_fill_(rows[:, None, None], 0.0)  # rows: bool [B]

    def step(self, x: torch.Tensor, ring: torch.Tensor, clock: Clock) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, in], ring [B, d, out] -> y [B, out], ring."""
        z = F.linear(x, self.weight)  # [B, 2 * out]
        now, past = z.split(self.out_ch, dim=-1)
        if isinstance(clock.tick, torch.Tensor):  # static step: the slot stays on the device
            slot = (clock.tick % self.dilation).view(1)
            before = ring.index_select(1, slot).squeeze(1)  # [B, out]: W_past x_{t-d} ...
            # ... zero (x before the trial's start) for rows fewer than d steps into their trial
            y = now + self.bias + torch.where((clock.t >= self.dilation)[:, None], before, 0.0)
            ring.index_copy_(1, slot, past[:, None])
            return y, ring
        slot = clock.tick % self.dilation
        y = now + self.bias + ring[:, slot]  # ring[:, slot] = W_past x_{t-d} (zeros before the trial's start)
        ring[:, slot] = past
        return y, ring


class DenseBlock(nn.Module):
    """Gated causal convolution tanh(xf) * sigmoid(xg) concatenated to the input: in_ch -> in_ch + filters."""

    def __init__(self, in_ch: int, dilation: int, filters: int):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, in_ch + filters
        self.conv = CausalConv(in_ch, 2 * filters, dilation)  # xf and xg from one convolution
        self.register_buffer("gate_scale", gate_scale(filters), persistent=False)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:  # [..., 2F] -> tanh(xf) * sigmoid(xg) [..., F]
        tanh_f, sigmoid_g = gates(pre, self.gate_scale)
        return tanh_f * sigmoid_g

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, in + filters]
        return torch.cat([x, self.activation(self.conv(x))], dim=-1)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        return self.conv.initial_state(batch_size, device, dtype)

    def clear(self, state, rows, static: bool = False):
        return self.conv.clear(state, rows, static)


class TCBlock(nn.Module):
    """ceil(log2 T) dense blocks with dilations 1, 2, 4, ... (receptive field >= T).

    in_ch -> in_ch + n * filters channels."""

    def __init__(self, in_ch: int, seq_len: int, filters: int):
        super().__init__()
        n = max(1, math.ceil(math.log2(seq_len)))
        self.blocks = nn.ModuleList(DenseBlock(in_ch + i * filters, 2**i, filters) for i in range(n))
        self.in_ch, self.out_ch = in_ch, in_ch + n * filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, out]
        params = [p for block in self.blocks for p in (block.conv.weight, block.conv.bias)]
        dilations = [block.conv.dilation for block in self.blocks]
        return DenseStack.apply(x, dilations, self.blocks[0].gate_scale, torch.is_grad_enabled(), *params)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same as `forward`, by plain autograd through DenseBlock.forward (slower: see DenseStack)."""
        for block in self.blocks:
            x = block(x)
        return x

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list[torch.Tensor]:
        return [block.initial_state(batch_size, device, dtype) for block in self.blocks]

    def clear(self, state, rows, static: bool = False):
        return [block.clear(s, rows, static) for block, s in zip(self.blocks, state, strict=True)]

    def step(self, x, state, clock: Clock):  # [B, in] -> [B, out]
        for i, block in enumerate(self.blocks):
            pre, state[i] = block.conv.step(x, state[i], clock)
            x = torch.cat([x, block.activation(pre)], dim=-1)
        return x, state


class DenseStack(torch.autograd.Function):
    """A TC block's dense blocks, forward and backward, in one preallocated [B, T, C_out] buffer.

    Plain autograd through DenseBlock.forward copies the growing input at every dense block (torch.cat), and
    in backward adds the wide input gradients of every block; both are memory-bound passes over [B, T, C]
    that cost about a quarter of a training pass of the bandit preset on CPU. Here each block reads its input
    as a view of the buffer's first channels and writes its activation into the next slice; in backward each
    block's input gradient is accumulated into the gradient buffer by the matmul itself (addmm_, beta = 1),
    and the gates' derivatives, kept from forward, take one multiply. Checked against forward_reference.

    Under autocast (e.g. bf16 on CPU) the buffers and matmuls use the autocast dtype, the gates and their
    derivatives are computed in float32, and the parameter gradients are returned in the parameters' dtype.
    """

    @staticmethod
    def forward(ctx, x, dilations, scale, grad_enabled, *params):  # x [B, T, C_in]; params: w0, b0, w1, ...
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        keep = grad_enabled and any(ctx.needs_input_grad)
        with torch.autocast(device, enabled=False):
            B, T, c_in = x.shape
            F_ = params[1].shape[0] // 2  # filters
            # Zeros, not empty: the matmuls read the first c channels as a strided view of this buffer, and
            # bf16 matmul kernels (oneDNN with AMX) may touch the not-yet-written channels beyond them, where
            # uninitialized memory (NaN bit patterns) once turned whole outputs into NaN.
            out = x.new_zeros(B, T, c_in + len(dilations) * F_, dtype=dtype)
            out[..., :c_in] = x
            flat = out.view(B * T, -1)  # [BT, C_out]
            derivatives = []
            for j, (d, w, b) in enumerate(zip(dilations, params[0::2], params[1::2], strict=True)):
                c = c_in + j * F_
                z = (flat[:, :c] @ w.to(dtype).t()).view(B, T, 4 * F_)  # [current tap; past tap] x (xf, xg)
                pre = z[..., : 2 * F_] + b  # [B, T, 2F], float32
                if d < T:
                    pre[:, d:] += z[:, : T - d, 2 * F_:]  # the past tap, d steps later
                tanh_f, sigmoid_g = gates(pre, scale)  # [B, T, F] each
                a = out[..., c: c + F_]
                torch.mul(tanh_f, sigmoid_g, out=a)
                if keep:  # d a / d xf = sigmoid_g (1 - tanh_f^2), d a / d xg = a (1 - sigmoid_g)
                    a = a.to(pre.dtype)  # float32 under autocast
                    derivatives.append(torch.cat([sigmoid_g - a * tanh_f, a - a * sigmoid_g], dim=-1))
        ctx.dilations, ctx.c_in, ctx.filters, ctx.x_dtype = dilations, c_in, F_, x.dtype
        ctx.save_for_backward(out, *derivatives, *params)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        out, *saved = ctx.saved_tensors
        n, c_in, F_ = len(ctx.dilations), ctx.c_in, ctx.filters
        derivatives, params = saved[:n], saved[n:]
        B, T, c_out = out.shape
        with torch.autocast(out.device.type, enabled=False):
            grad = grad_out.to(out.dtype, memory_format=torch.contiguous_format, copy=True)  # accumulates
            grad_flat, flat = grad.view(B * T, c_out), out.view(B * T, c_out)
            g_z = out.new_empty(B, T, 4 * F_)  # gradient of both taps' pre-activations
            param_grads = [None] * len(params)
            for j in reversed(range(n)):
                c, d, w = c_in + j * F_, ctx.dilations[j], params[2 * j]
                g = grad[..., c: c + F_]  # gradient of this block's activation, complete by now
                g_now = g_z[..., : 2 * F_]
                torch.mul(g.unsqueeze(-2), derivatives[j].view(B, T, 2, F_), out=g_now.view(B, T, 2, F_))
                g_z[:, max(T - d, 0):, 2 * F_:] = 0.0
                if d < T:
                    g_z[:, : T - d, 2 * F_:] = g_now[:, d:]  # the past tap's gradient, d steps earlier
                g_z2 = g_z.view(B * T, 4 * F_)
                param_grads[2 * j] = (g_z2.t() @ flat[:, :c]).to(w.dtype)  # [4F, c]
                param_grads[2 * j + 1] = g_now.sum(dim=(0, 1), dtype=derivatives[j].dtype).to(w.dtype)
                grad_flat[:, :c].addmm_(g_z2, w.to(out.dtype))  # input gradient, accumulated in the buffer
        return grad[..., :c_in].to(ctx.x_dtype), None, None, None, *param_grads


class AttentionBlock(nn.Module):
    """One causally masked attention head; the read is concatenated to the input: in_ch -> in_ch + value_size.

    The step cache holds every key and value of the trial so far, [B, max_len, key_size] and
    [B, max_len, value_size]; a step attends over the row's own positions 0..t, O(t).
    """

    def __init__(self, in_ch: int, key_size: int, value_size: int, max_len: int):
        super().__init__()
        self.key_size, self.value_size, self.max_len = key_size, value_size, max_len
        self.qkv = nn.Linear(in_ch, 2 * key_size + value_size)
        self.in_ch, self.out_ch = in_ch, in_ch + value_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, in + V]
        q, k, v = self.qkv(x).unsqueeze(1).split([self.key_size, self.key_size, self.value_size], dim=-1)
        read = causal_attention(q, k, v)  # [B, 1, T, V]; scale 1/sqrt(K)
        return torch.cat([x, read.squeeze(1).to(x.dtype)], dim=-1)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list[torch.Tensor]:
        return [torch.zeros(batch_size, self.max_len, self.key_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.max_len, self.value_size, device=device, dtype=dtype)]

    def clear(self, state, rows, static: bool = False):
        return state  # entries from before a row's trial are masked out by time

    def step(self, x, state, clock: Clock):
        """x [B, in], state [keys [B, L, K], values [B, L, V]] -> [B, in + V]."""
        keys, values = state
        q, k, v = self.qkv(x).split([self.key_size, self.key_size, self.value_size], dim=-1)
        rows, t, span = torch.arange(x.shape[0], device=x.device), clock.t, clock.span
        keys[rows, t], values[rows, t] = k, v
        read = cached_attention(q[:, None], keys[:, None, :span], values[:, None, :span], t)  # [B, 1, V]
        return torch.cat([x, read.squeeze(1)], dim=-1), state


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal scaled dot-product attention, [B, H, T, d] each -> [B, H, T, vd]. On CPU in float32 also under bf16
    autocast: PyTorch's CPU flash-attention kernel is about 4x slower in bf16 than in float32 (forward and
    backward, T=100, d=32: 10.8 against 2.8 ms), and attention is a small part of these models' arithmetic."""
    if q.device.type == "cpu" and q.dtype != torch.float32:
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def cached_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, t: torch.Tensor):
    """One query per row over its cached positions 0..t[b]; later positions (other rows' prefixes) masked.

    q [B, H, hd], keys [B, H, S, hd], values [B, H, S, vd], t [B] -> [B, H, vd].
    """
    visible = torch.arange(keys.shape[2], device=q.device)[None, :] <= t[:, None]  # [B, S]
    read = F.scaled_dot_product_attention(q.unsqueeze(-2), keys, values, attn_mask=visible[:, None, None, :])
    return read.squeeze(-2)  # [B, H, 1, vd] -> [B, H, vd]
