#!/usr/bin/env python3
"""Can fp16 overflow in the attention logits be separated from a model that does not train?

The same model and task as trainwreck's transformer workload (vocab 16, sequences of 16 that repeat
their first four tokens, width 32, 2 blocks, 2 heads, pre-LayerNorm, GELU, AdamW 3e-3 with 20
warm-up steps and cosine decay, target 0.1 next-token cross-entropy), in Python torch on the CPU.
The query and key weights are multiplied by K after initialization (the logits q.k/sqrt(d) grow
as K^2); attention is the explicit softmax(q k^T / sqrt(d)) v, whose logits exist in the autocast
dtype, and for fp16 also scaled_dot_product_attention. Prints one line per (K, precision, seed).

    python3 probe.py 16 64 > output.txt
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
V, T, P, D, H = 16, 16, 4, 32, 2


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(0, V, (n, P), generator=g).repeat(1, (T + P) // P)[:, :T + 1]
    y = tok[:, 1:].clone()
    y[:, :P - 1] = -100
    return tok[:, :T], y


class Block(torch.nn.Module):
    def __init__(self, explicit):
        super().__init__()
        self.explicit = explicit
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.qkv, self.proj = torch.nn.Linear(D, 3 * D), torch.nn.Linear(D, D)
        self.fc1, self.fc2 = torch.nn.Linear(D, 4 * D), torch.nn.Linear(4 * D, D)

    def forward(self, x):
        n, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, H, D // H).permute(2, 0, 3, 1, 4)
        if self.explicit:
            logits = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
            future = torch.ones(t, t, dtype=torch.bool).triu(1)
            a = torch.softmax(logits.masked_fill(future, float("-inf")), -1).to(v.dtype) @ v
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, D))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Net(torch.nn.Module):
    def __init__(self, explicit):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(V, D), torch.nn.Embedding(T, D)
        self.blocks = torch.nn.ModuleList([Block(explicit) for _ in range(2)])
        self.ln, self.head = torch.nn.LayerNorm(D), torch.nn.Linear(D, V)

    def forward(self, x):
        h = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln(h))


def run(k, dtype, explicit, seed, lr=3e-3, steps=300, warm=20, batch=64):
    x, y = data(4096, seed)
    ex, ey = data(512, seed + 99)
    torch.manual_seed(seed)
    net = Net(explicit)
    with torch.no_grad():
        for b in net.blocks:
            b.qkv.weight[:2 * D].mul_(k)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    for s in range(1, steps + 1):
        f = s / warm if s <= warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm)))
        for group in opt.param_groups:
            group["lr"] = lr * f
        idx = torch.arange((s - 1) * batch, s * batch) % 4096
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = net(x[idx])
        loss = F.cross_entropy(out.float().reshape(-1, V), y[idx].reshape(-1))
        if not math.isfinite(loss.item()):
            return f"non-finite loss at step {s}"
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s % 10 == 0:
            with torch.no_grad():
                e = F.cross_entropy(net(ex).reshape(-1, V), ey.reshape(-1)).item()
            if e < 0.1:
                return f"reached 0.1 at step {s}"
    return f"stalled, eval loss {e:.3f}"


def largest_logit(k, seed=1):
    """The largest |q.k/sqrt(d)| of the first block at initialization, in fp32, on evaluation data."""
    torch.manual_seed(seed)
    net = Net(explicit=True)
    with torch.no_grad():
        b = net.blocks[0]
        b.qkv.weight[:2 * D].mul_(k)
        x, _ = data(512, seed + 99)
        h = b.ln1(net.tok(x) + net.pos(torch.arange(T)))
        q, kk, _ = b.qkv(h).view(512, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        return ((q @ kk.transpose(-2, -1)) / math.sqrt(D // H)).abs().max().item()


if __name__ == "__main__":
    print("torch", torch.__version__)
    for k in (1, 16, 64, 128, 190, 256):
        print(f"K={k}: largest attention logit at initialization {largest_logit(k):.0f} (fp16 overflows past 65504)")
    for k in [float(a) for a in sys.argv[1:]]:
        for seed in (1, 2):
            for name, dtype, explicit in (("fp32 explicit", None, True), ("fp16 explicit", torch.float16, True),
                                          ("bf16 explicit", torch.bfloat16, True), ("fp16 sdpa", torch.float16, False)):
                t0 = time.time()
                print(f"K={k:g} seed={seed} {name}: {run(k, dtype, explicit, seed)} ({time.time() - t0:.1f} s)", flush=True)
