"""Sequence models behind one interface, and their configs: SNAIL stacks (and the TC-only / attention-only
ablations), a GPT-style causal Transformer and an LSTM/GRU (RL²).

Every sequence model maps per-step embeddings to per-step features and has:
    in_dim, out_dim, max_len (None: no limit on the trial length)
    forward(x [B, T, in_dim]) -> [B, T, out_dim]                      parallel in time
    initial_state(batch_size, device, dtype) -> state                 lists of tensors
    clear(state, rows [B] bool, static) -> state                      rows start a new trial (static: every
                                                                      step, rows may be none)
    step(x [B, in_dim], state, clock) -> ([B, out_dim], state)
        one step; clock.t [B] = each row's time index (t = 0 starts a trial), see blocks.Clock
`python -m snail.agent` prints the parameter count of every preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from snail.blocks import AttentionBlock, Clock, TCBlock, cached_attention, causal_attention
from snail.config import check

# ----------------------------------------------------------------------------------------------- configs


def _is_int(x, low: int = 1) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


# Paper stacks (SNAIL appendix) and the ablations' versions of them. Blocks: ("tc", filters) or
# ("attn", key_size, value_size); TC blocks get T = max_len.
SNAIL_PRESETS: dict[str, dict[str, dict]] = {
    "snail": {
        "bandit": dict(embed_dim=32, encoder_hidden=[],
                       policy_blocks=[["tc", 32], ["tc", 32], ["attn", 32, 32]],
                       value_blocks=[["tc", 16], ["tc", 16], ["attn", 16, 16]]),
        "maze": dict(embed_dim=64, encoder_hidden=[128],
                     policy_blocks=[["tc", 32], ["attn", 16, 16], ["tc", 32], ["attn", 16, 16]],
                     value_blocks=[["tc", 16], ["tc", 16]]),
    },
    "tc_only": {
        "bandit": dict(embed_dim=32, encoder_hidden=[],
                       policy_blocks=[["tc", 32], ["tc", 32]], value_blocks=[["tc", 16], ["tc", 16]]),
        "maze": dict(embed_dim=64, encoder_hidden=[128],
                     policy_blocks=[["tc", 32], ["tc", 32]], value_blocks=[["tc", 16], ["tc", 16]]),
    },
    "attn_only": {  # the value stack of the maze has no attention block: one takes the TC blocks' place
        "bandit": dict(embed_dim=32, encoder_hidden=[],
                       policy_blocks=[["attn", 32, 32]], value_blocks=[["attn", 16, 16]]),
        "maze": dict(embed_dim=64, encoder_hidden=[128],
                     policy_blocks=[["attn", 16, 16], ["attn", 16, 16]], value_blocks=[["attn", 16, 16]]),
    },
}
BLOCK_KINDS = {"snail": ("tc", "attn"), "tc_only": ("tc",), "attn_only": ("attn",)}


def _valid_blocks(blocks, kinds: tuple[str, ...]) -> bool:
    if not isinstance(blocks, (list, tuple)) or not blocks:
        return False
    arity = {"tc": 2, "attn": 3}
    return all(isinstance(b, (list, tuple)) and len(b) >= 1 and b[0] in kinds and len(b) == arity[b[0]]
               and all(_is_int(n) for n in b[1:]) for b in blocks)


@dataclass
class SnailConfig:
    """SNAIL: a stack of TC and attention blocks per network. `preset` fills every option left as None."""

    name: str = "snail"  # snail | tc_only | attn_only
    preset: str | None = "bandit"  # bandit | maze | None (then policy_blocks, value_blocks are required)
    policy_blocks: list | None = None  # e.g. [["tc", 32], ["tc", 32], ["attn", 32, 32]]
    value_blocks: list | None = None  # unused with shared_trunk
    embed_dim: int | None = None  # width of the input encoder's output (32 without a preset)
    encoder_hidden: list | None = None  # hidden widths of the input MLP (ReLU); [] = one linear layer
    shared_trunk: bool = False  # one network for both heads (the paper: separate policy and value networks)

    def __post_init__(self):
        kinds = BLOCK_KINDS.get(self.name, ())
        presets = SNAIL_PRESETS.get(self.name, {})
        check("model", self, lambda: {"name": (self.name in BLOCK_KINDS, f"one of {list(BLOCK_KINDS)}"),
                                      "preset": (self.preset is None or self.preset in presets,
                                                 f"one of {list(presets)} or null")})
        for key, value in (SNAIL_PRESETS[self.name][self.preset] if self.preset else {}).items():
            if getattr(self, key) is None and not (key == "value_blocks" and self.shared_trunk):
                setattr(self, key, value)
        self.embed_dim = 32 if self.embed_dim is None else self.embed_dim
        self.encoder_hidden = [] if self.encoder_hidden is None else self.encoder_hidden
        kinds_text = (f"a non-empty list of {' / '.join(_BLOCK_TEXT[k] for k in kinds)} (positive ints) "
                      f"for model {self.name!r}")
        check("model", self, lambda: {
            "policy_blocks": (_valid_blocks(self.policy_blocks, kinds), kinds_text),
            "value_blocks": ((self.shared_trunk and self.value_blocks is None)
                             or (not self.shared_trunk and _valid_blocks(self.value_blocks, kinds)),
                             "null with shared_trunk=true" if self.shared_trunk else kinds_text),
            "embed_dim": (self.embed_dim >= 1, "an integer >= 1"),
            "encoder_hidden": (_valid_widths(self.encoder_hidden), "a list of integers >= 1"),
        })

    def make_net(self, in_dim: int, max_len: int, value: bool = False) -> SnailNet:
        return SnailNet(in_dim, self.value_blocks if value else self.policy_blocks, max_len)


_BLOCK_TEXT = {"tc": "['tc', filters]", "attn": "['attn', key_size, value_size]"}


def _valid_widths(widths) -> bool:
    return isinstance(widths, (list, tuple)) and all(_is_int(w) for w in widths)


@dataclass
class TransformerConfig:
    """GPT-style causal Transformer: pre-LayerNorm blocks, multi-head attention, learned positions."""

    name: str = "transformer"
    d_model: int = 64  # also the width of the input encoder's output
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None  # MLP width; None = 4 * d_model
    encoder_hidden: list = field(default_factory=list)
    shared_trunk: bool = False

    def __post_init__(self):
        check("model", self, lambda: {
            "name": (self.name == "transformer", "'transformer'"),
            "d_model": (self.d_model >= 1, "an integer >= 1"),
            "n_layers": (self.n_layers >= 1, "an integer >= 1"),
            "n_heads": (self.n_heads >= 1 and self.d_model % self.n_heads == 0,
                        f"an integer >= 1 dividing d_model={self.d_model}"),
            "d_ff": (self.d_ff is None or self.d_ff >= 1, "an integer >= 1 or null"),
            "encoder_hidden": (_valid_widths(self.encoder_hidden), "a list of integers >= 1"),
        })
        self.d_ff = 4 * self.d_model if self.d_ff is None else self.d_ff

    @property
    def embed_dim(self) -> int:
        return self.d_model

    def make_net(self, in_dim: int, max_len: int, value: bool = False) -> TransformerNet:
        return TransformerNet(self, max_len)


@dataclass
class LSTMConfig:
    """RL²-style recurrent baseline (LSTM, or GRU as in RL²)."""

    name: str = "lstm"
    hidden_size: int = 256
    cell: str = "lstm"  # lstm | gru
    num_layers: int = 1
    embed_dim: int = 32
    encoder_hidden: list = field(default_factory=list)
    shared_trunk: bool = False

    def __post_init__(self):
        check("model", self, lambda: {
            "name": (self.name == "lstm", "'lstm'"),
            "hidden_size": (self.hidden_size >= 1, "an integer >= 1"),
            "cell": (self.cell in ("lstm", "gru"), "'lstm' or 'gru'"),
            "num_layers": (self.num_layers >= 1, "an integer >= 1"),
            "embed_dim": (self.embed_dim >= 1, "an integer >= 1"),
            "encoder_hidden": (_valid_widths(self.encoder_hidden), "a list of integers >= 1"),
        })

    def make_net(self, in_dim: int, max_len: int, value: bool = False) -> RecurrentNet:
        return RecurrentNet(in_dim, self.hidden_size, self.cell, self.num_layers)


MODEL_CONFIGS = {"snail": SnailConfig, "tc_only": SnailConfig, "attn_only": SnailConfig,
                 "transformer": TransformerConfig, "lstm": LSTMConfig}

# ------------------------------------------------------------------------------------------------ SNAIL


class SnailNet(nn.Module):
    """A stack of TC and attention blocks; each block appends its output channels to its input."""

    def __init__(self, in_dim: int, blocks: list, max_len: int):
        super().__init__()
        layers, width = [], in_dim
        for kind, *sizes in blocks:
            if kind == "tc":
                layer = TCBlock(width, max_len, *sizes)
            else:
                layer = AttentionBlock(width, *sizes, max_len)
            layers.append(layer)
            width = layer.out_ch
        self.layers = nn.ModuleList(layers)
        self.in_dim, self.out_dim = in_dim, width
        self.max_len = max_len if any(kind == "attn" for kind, *_ in blocks) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in_dim] -> [B, T, out_dim]
        for layer in self.layers:
            x = layer(x)
        return x

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list:
        return [layer.initial_state(batch_size, device, dtype) for layer in self.layers]

    def clear(self, state, rows, static: bool = False):
        return [layer.clear(s, rows, static) for layer, s in zip(self.layers, state, strict=True)]

    def step(self, x, state, clock: Clock):  # [B, in_dim] -> [B, out_dim]
        for i, layer in enumerate(self.layers):
            x, state[i] = layer.step(x, state[i], clock)
        return x, state


# ---------------------------------------------------------------------------------------- Transformer


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # [B, H, T, hd] each
        y = causal_attention(q, k, v).to(q.dtype)  # [B, H, T, hd]
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # [B, T, C]

    def step(self, x, cache, clock: Clock):
        """x [B, C], cache [keys, values] each [B, H, max_len, hd] -> [B, C]."""
        B, C = x.shape
        q, k, v = self.qkv(x).view(B, 3, self.n_heads, self.head_dim).unbind(1)  # [B, H, hd]
        keys, values = cache
        rows, t, span = torch.arange(B, device=x.device), clock.t, clock.span
        keys[rows, :, t], values[rows, :, t] = k, v
        y = cached_attention(q, keys[:, :, :span], values[:, :, :span], t)  # [B, H, hd]
        return self.proj(y.reshape(B, C)), cache


class TransformerLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

    def step(self, x, cache, clock: Clock):
        a, cache = self.attn.step(self.ln1(x), cache, clock)
        x = x + a
        return x + self.mlp(self.ln2(x)), cache


class TransformerNet(nn.Module):
    def __init__(self, cfg: TransformerConfig, max_len: int):
        super().__init__()
        self.cfg, self.max_len = cfg, max_len
        self.in_dim = self.out_dim = cfg.d_model
        self.pos = nn.Parameter(torch.randn(max_len, cfg.d_model) * 0.02)  # learned absolute positions
        self.layers = nn.ModuleList(TransformerLayer(cfg.d_model, cfg.n_heads, cfg.d_ff)
                                    for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, d] -> [B, T, d]
        x = x + self.pos[: x.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.ln_f(x)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list:
        shape = (batch_size, self.cfg.n_heads, self.max_len, self.cfg.d_model // self.cfg.n_heads)
        return [[torch.zeros(shape, device=device, dtype=dtype) for _ in range(2)] for _ in self.layers]

    def clear(self, state, rows, static: bool = False):
        return state  # entries from before a row's trial are masked out by time

    def step(self, x, state, clock: Clock):  # [B, d] -> [B, d]
        x = x + self.pos[clock.t]
        for i, layer in enumerate(self.layers):
            x, state[i] = layer.step(x, state[i], clock)
        return self.ln_f(x), state


# --------------------------------------------------------------------------------------------- LSTM / GRU


class RecurrentNet(nn.Module):
    def __init__(self, in_dim: int, hidden_size: int, cell: str, num_layers: int):
        super().__init__()
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(in_dim, hidden_size, num_layers, batch_first=True)
        self.in_dim, self.out_dim, self.max_len = in_dim, hidden_size, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, hidden]
        return self.rnn(x)[0]

    def initial_state(self, batch_size: int, device=None, dtype=None) -> list[torch.Tensor]:
        shape = (self.rnn.num_layers, batch_size, self.rnn.hidden_size)
        n = 2 if isinstance(self.rnn, nn.LSTM) else 1
        return [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n)]  # [h] or [h, c]

    def clear(self, state, rows, static: bool = False):
        return [s.masked_fill_(rows[None, :, None], 0.0) for s in state]

    def step(self, x, state, clock: Clock):  # [B, in] -> [B, hidden]
        """One step of each layer's cell with the nn.LSTM / nn.GRU weights (PyTorch's gate order), written
        out so that torch.compile can take it (Dynamo does not trace nn.LSTM); the state is updated in place,
        like every cache, so that a captured step keeps its addresses."""
        h, c = state[0], state[1] if len(state) == 2 else None  # [layers, B, hidden]
        for k in range(self.rnn.num_layers):
            w_ih, w_hh, b_ih, b_hh = (getattr(self.rnn, f"{name}_l{k}")
                                      for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            gi, gh = F.linear(x, w_ih, b_ih), F.linear(h[k], w_hh, b_hh)  # [B, 4H] (LSTM) or [B, 3H] (GRU)
            if c is not None:
                i, f, g, o = (gi + gh).chunk(4, dim=-1)
                c[k] = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
                h[k] = torch.sigmoid(o) * torch.tanh(c[k])
            else:
                (ir, iz, in_), (hr, hz, hn) = gi.chunk(3, dim=-1), gh.chunk(3, dim=-1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(in_ + r * hn)
                h[k] = (1 - z) * n + z * h[k]
            x = h[k]
        return x.clone(), state
