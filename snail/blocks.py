"""SNAIL building blocks (Mishra et al. 2018, §3.1), each with a parallel `forward` and a cached `step`.

Layout is channel-last everywhere: `forward` takes [batch, time, channels], `step` takes [batch, channels] for
one time step plus the block's cache and `t` [batch], each row's time index within its own trial (rows may be
at different steps). A row with t = 0 starts a new trial: caches are never cleared, entries written before the
row's current trial are masked out by time, so a reset costs nothing.

`step` updates its cache in place and returns it; rollouts call it under `torch.no_grad()`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def shift_in_time(x: torch.Tensor, d: int) -> torch.Tensor:
    """y[:, t] = x[:, t - d], zeros for t < d.  x, y: [B, T, C]."""
    B, T, C = x.shape
    if d >= T:
        return x.new_zeros(B, T, C)
    return torch.cat([x.new_zeros(B, d, C), x[:, : T - d]], dim=1)


def gate_sigmoids(pre: torch.Tensor) -> torch.Tensor:
    """pre [..., 2F] = (xf, xg) -> (sigmoid(2 xf), sigmoid(xg)): tanh(xf) = 2 sigmoid(2 xf) - 1, and one
    sigmoid over both halves is several times faster on CPU than torch.tanh."""
    F_ = pre.shape[-1] // 2
    scale = pre.new_ones(2 * F_)
    scale[:F_] = 2.0
    return torch.sigmoid(pre * scale)


def gated_activation(sig: torch.Tensor) -> torch.Tensor:
    """sig = gate_sigmoids(pre) [..., 2F] -> tanh(xf) * sigmoid(xg) [..., F]."""
    s_f, s_g = sig.chunk(2, dim=-1)
    return (2.0 * s_f - 1.0) * s_g


class CausalConv(nn.Module):
    """Causal 1-D convolution with kernel 2 and dilation d: y_t = W_now x_t + W_past x_{t-d} + b, x_{t<0} = 0.

    Written as one matmul from `in_ch` to both taps' outputs (2 * out_ch), after which only the past tap's
    half is shifted d steps in time: on CPU this beats conv1d (no [B, C, T] transposes) and Linear on
    cat(x_t, x_{t-d}) (which copies the wide input). The step cache is a ring buffer of the last d values of
    W_past x, [B, d, out_ch], narrower than the inputs themselves.
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

    def step(self, x: torch.Tensor, ring: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, in], ring [B, d, out] (slot t % d holds W_past x_{t-d}), t [B] -> y [B, out], ring."""
        z = F.linear(x, self.weight)  # [B, 2 * out]
        now, past = z.split(self.out_ch, dim=-1)
        rows, slot = torch.arange(x.shape[0], device=x.device), t % self.dilation
        prev = torch.where((t >= self.dilation)[:, None], ring[rows, slot], 0.0)  # [B, out]; 0 before t = d
        ring[rows, slot] = past
        return now + self.bias + prev, ring


class DenseBlock(nn.Module):
    """Gated causal convolution tanh(xf) * sigmoid(xg) concatenated to the input: in_ch -> in_ch + filters."""

    def __init__(self, in_ch: int, dilation: int, filters: int):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, in_ch + filters
        self.conv = CausalConv(in_ch, 2 * filters, dilation)  # xf and xg from one convolution

    def activation(self, pre: torch.Tensor) -> torch.Tensor:  # [..., 2F] -> tanh(xf) * sigmoid(xg) [..., F]
        return gated_activation(gate_sigmoids(pre))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, in + filters]
        return torch.cat([x, self.activation(self.conv(x))], dim=-1)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        return self.conv.initial_state(batch_size, device, dtype)

    def step(self, x, state, t, span):  # [B, in] -> [B, in + filters]
        a, state = self.conv.step(x, state, t)
        return torch.cat([x, self.activation(a)], dim=-1), state


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
        return DenseStack.apply(x, [block.conv.dilation for block in self.blocks], *params)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same as `forward`, by plain autograd through DenseBlock.forward (slower: see DenseStack)."""
        for block in self.blocks:
            x = block(x)
        return x

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list[torch.Tensor]:
        return [block.initial_state(batch_size, device, dtype) for block in self.blocks]

    def step(self, x, state, t, span):
        for i, block in enumerate(self.blocks):
            x, state[i] = block.step(x, state[i], t, span)
        return x, state


class DenseStack(torch.autograd.Function):
    """A TC block's dense blocks, forward and backward, in one preallocated [B, T, C_out] buffer.

    Plain autograd through DenseBlock.forward copies the growing input at every dense block (torch.cat), and
    in backward adds the wide input gradients of every block; both are memory-bound passes over [B, T, C]
    that cost about a quarter of a training pass of the bandit preset on CPU. Here each block reads its input
    as a view of the buffer's first channels and writes its activation into the next slice; in backward each
    block's input gradient is accumulated into the gradient buffer by the matmul itself (addmm_, beta = 1).
    Tested against TCBlock.forward_reference.
    """

    @staticmethod
    def forward(ctx, x, dilations, *params):  # x [B, T, C_in]; params: weight_0, bias_0, weight_1, ...
        B, T, c_in = x.shape
        filters = params[1].shape[0] // 2
        out = x.new_empty(B, T, c_in + len(dilations) * filters)
        out[..., :c_in] = x
        flat = out.view(B * T, -1)  # [BT, C_out]
        sigmoids = []
        for j, (d, w, b) in enumerate(zip(dilations, params[0::2], params[1::2], strict=True)):
            c = c_in + j * filters
            z = (flat[:, :c] @ w.t()).view(B, T, 4 * filters)  # both taps of xf and xg
            pre = z[..., : 2 * filters] + b + shift_in_time(z[..., 2 * filters:], d)  # [B, T, 2F]
            sig = gate_sigmoids(pre)  # [B, T, 2F]
            out[..., c: c + filters] = gated_activation(sig)
            sigmoids.append(sig)
        ctx.dilations, ctx.c_in, ctx.filters = dilations, c_in, filters
        ctx.save_for_backward(out, *sigmoids, *params)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        out, *saved = ctx.saved_tensors
        n, c_in, filters = len(ctx.dilations), ctx.c_in, ctx.filters
        sigmoids, params = saved[:n], saved[n:]
        B, T, c_out = out.shape
        grad = grad_out.clone(memory_format=torch.contiguous_format)  # accumulates input gradients in place
        grad_flat, flat = grad.view(B * T, c_out), out.view(B * T, c_out)
        param_grads = [None] * len(params)
        for j in reversed(range(n)):
            c, d, w = c_in + j * filters, ctx.dilations[j], params[2 * j]
            s_f, sg = sigmoids[j].chunk(2, dim=-1)
            tf = 2.0 * s_f - 1.0  # tanh(xf)
            g = grad[..., c: c + filters]  # gradient of this block's activation, complete by now
            g_pre = torch.cat([g * sg * (1 - tf * tf), g * tf * sg * (1 - sg)], dim=-1)  # [B, T, 2F]
            g_past = torch.zeros_like(g_pre) if d >= T else F.pad(g_pre[:, d:], (0, 0, 0, d))  # shifted back
            g_z = torch.cat([g_pre, g_past], dim=-1).view(B * T, 4 * filters)
            param_grads[2 * j] = g_z.t() @ flat[:, :c]  # [4F, c]
            param_grads[2 * j + 1] = g_pre.sum(dim=(0, 1))
            grad_flat[:, :c].addmm_(g_z, w)  # input gradient, accumulated in the buffer
        return grad[..., :c_in], None, *param_grads


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
        read = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, 1, T, V]; scale 1/sqrt(K)
        return torch.cat([x, read.squeeze(1)], dim=-1)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list[torch.Tensor]:
        return [torch.zeros(batch_size, self.max_len, self.key_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.max_len, self.value_size, device=device, dtype=dtype)]

    def step(self, x, state, t, span):
        """x [B, in], state [keys [B, L, K], values [B, L, V]], t [B], span = max(t) + 1 -> [B, in + V]."""
        keys, values = state
        q, k, v = self.qkv(x).split([self.key_size, self.key_size, self.value_size], dim=-1)
        rows = torch.arange(x.shape[0], device=x.device)
        keys[rows, t], values[rows, t] = k, v
        read = cached_attention(q[:, None], keys[:, None, :span], values[:, None, :span], t)  # [B, 1, V]
        return torch.cat([x, read.squeeze(1)], dim=-1), state


def cached_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, t: torch.Tensor):
    """One query per row over its cached positions 0..t[b]; later positions (other rows' prefixes) masked.

    q [B, H, hd], keys [B, H, S, hd], values [B, H, S, vd], t [B] -> [B, H, vd].
    """
    scores = (keys @ q.unsqueeze(-1)).squeeze(-1) / math.sqrt(q.shape[-1])  # [B, H, S]
    future = torch.arange(keys.shape[2], device=q.device)[None, :] > t[:, None]  # [B, S]
    scores = scores.masked_fill(future[:, None, :], float("-inf"))
    return (scores.softmax(dim=-1).unsqueeze(-2) @ values).squeeze(-2)  # [B, H, vd]
