#!/usr/bin/env python3
"""Training throughput of performer-pytorch's PerformerLM on this CPU, for the side-by-side
training benchmark (Benchmarks/train.sh). Same shapes as `protein-tool bench train`:
vocabulary 31, tied embedding, rotary positions, pre-LayerNorm blocks, FFN ×4, AdamW.

Measures forward + backward + AdamW step on random tokens (the data pipeline is not timed),
reports the median seconds per step over --steps timed steps after --warmup steps, tokens/s
and the process's peak RSS, as one JSON object per line.

Needs: pip install torch performer-pytorch
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
from torch import nn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--attention", choices=["favor-relu", "favor-softmax"], default="favor-relu")
    p.add_argument("--objective", choices=["mlm", "causal"], default="mlm")
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    from performer_pytorch import PerformerLM

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = PerformerLM(
        num_tokens=31, max_seq_len=a.length, dim=a.dim, depth=a.layers, heads=a.heads,
        dim_head=a.dim // a.heads, causal=a.objective == "causal", nb_features=a.features,
        generalized_attention=a.attention == "favor-relu", kernel_fn=nn.ReLU(), ff_mult=4,
        tie_embed=True, rotary_position_emb=True, qkv_bias=True, attn_out_bias=True,
        feature_redraw_interval=10**9)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(6, 26, (a.batch, a.length))
    targets = torch.randint(6, 26, (a.batch, a.length))
    weights = (torch.rand(a.batch, a.length) < (0.15 if a.objective == "mlm" else 1.0)).float()

    def step():
        optimizer.zero_grad(set_to_none=False)
        logits = model(tokens)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 31), targets.reshape(-1), reduction="none")
        loss = (loss * weights.reshape(-1)).sum() / weights.sum()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "implementation": "performer-pytorch", "attention": a.attention, "objective": a.objective,
        "length": a.length, "batch": a.batch, "seconds_per_step": seconds,
        "tokens_per_s": a.batch * a.length / seconds, "peak_rss_bytes": peak,
        "parameters": sum(p.numel() for p in model.parameters()), "threads": a.threads,
        "torch": torch.__version__}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
