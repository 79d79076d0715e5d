#!/usr/bin/env python3
"""Times performer-pytorch's FastAttention (forward + backward) on CPU, for comparison with
`protein-tool bench attention`.

Not a dependency of the project: run it on purpose, after `pip install torch performer-pytorch`.

Every configuration (kernel x direction x length) runs in a fresh child process (this script with
--child), like the Swift benchmark: the child allocates q, k, v, dOut ~ N(0, 1) of shape
[batch, heads, length, head_dim] with requires_grad on q, k, v, runs one untimed warm-up step,
then --repeats timed steps of `out = FastAttention(q, k, v)` followed by `out.backward(dOut)`,
and reports median times. peak_bytes = the child's peak RSS (getrusage ru_maxrss) minus its RSS
before allocating the inputs (after importing torch and building the module).

Kernels: favor-softmax = FastAttention(dim_heads=d, nb_features=m) (positive orthogonal
features); favor-relu = FastAttention(..., generalized_attention=True, kernel_fn=nn.ReLU()).
Causal: without the CUDA extension (`fast_transformers`), performer-pytorch uses
`causal_linear_attention_noncuda`, which materialises prefix sums of k v^T: memory
O(batch*heads*L*m*d). Configurations whose estimated peak exceeds --max-gib are skipped (and
reported as skipped) rather than run into the out-of-memory killer on a shared machine.

Output: JSON array with the keys of `protein-tool bench attention` (kernel, causal, length,
seconds, peak_bytes, forward_seconds, backward_seconds, ...). With --compare SWIFT_JSON it also
prints a side-by-side table against the Swift results.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

RESULT_PREFIX = "performer-pytorch-child-result "


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def causal_implementation(attention, causal):
    """Name of the contraction FastAttention uses ("causal_linear_attention_noncuda" on CPU)."""
    if not causal:
        return "linear_attention"
    fn = getattr(attention, "causal_linear_fn", None)
    return getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "unknown")


def run_child(args):
    """Measures one configuration in this process and prints one result line."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from torch import nn
    from performer_pytorch import FastAttention

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    kernel, length = args.kernels[0], args.lengths[0]
    attention = FastAttention(
        dim_heads=args.head_dim,
        nb_features=args.features,
        causal=args.causal,
        generalized_attention=(kernel == "favor-relu"),
        kernel_fn=nn.ReLU(),
    )
    rss_before = current_rss_bytes()
    shape = (args.batch, args.heads, length, args.head_dim)
    q = torch.randn(shape, requires_grad=True)
    k = torch.randn(shape, requires_grad=True)
    v = torch.randn(shape, requires_grad=True)
    d_out = torch.randn(shape)

    def step():
        for t in (q, k, v):
            t.grad = None
        start = time.perf_counter()
        out = attention(q, k, v)
        middle = time.perf_counter()
        out.backward(d_out)
        end = time.perf_counter()
        return middle - start, end - middle

    step()
    forward, backward, total = [], [], []
    for _ in range(args.repeats):
        f, b = step()
        forward.append(f)
        backward.append(b)
        total.append(f + b)
    result = {
        "seconds": statistics.median(total),
        "forward_seconds": statistics.median(forward),
        "backward_seconds": statistics.median(backward),
        "min_seconds": min(total),
        "resident_before_bytes": rss_before,
        "peak_resident_bytes": peak_rss_bytes(),
        "torch_threads": torch.get_num_threads(),
        "causal_implementation": causal_implementation(attention, args.causal),
    }
    result["peak_bytes"] = result["peak_resident_bytes"] - rss_before
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def estimated_peak_bytes(args, kernel, causal, length):
    """A rough upper estimate of a configuration's peak memory (for skipping, not reporting)."""
    b, h, d, m = args.batch, args.heads, args.head_dim, args.features
    linear = 4 * b * h * length * (8 * d + 6 * m)  # inputs, grads, features and their grads
    if causal:
        # prefix-sum context [b, h, L, m, d] kept for backward, its gradient, and a cumsum copy
        return linear + 3 * 4 * b * h * length * m * d
    return linear


def child_arguments(args, kernel, causal, length):
    return [
        sys.executable, os.path.abspath(__file__), "--child",
        "--kernels", kernel, "--lengths", str(length),
        "--batch", str(args.batch), "--heads", str(args.heads), "--head-dim", str(args.head_dim),
        "--features", str(args.features), "--repeats", str(args.repeats), "--threads", str(args.threads),
        "--seed", str(args.seed),
    ] + (["--causal"] if causal else [])


def row(args, kernel, causal, length, measured=None, skipped=None, error=None):
    r = {"kernel": kernel, "causal": causal, "length": length,
         "seconds": None, "peak_bytes": None}
    if measured:
        r.update(measured)
        r["tokens_per_second"] = args.batch * length / measured["seconds"]
    r.update({"batch": args.batch, "heads": args.heads, "head_dim": args.head_dim,
              "features": args.features, "repeats": args.repeats,
              "implementation": "performer-pytorch FastAttention"})
    if skipped:
        r["skipped"] = skipped
    if error:
        r["error"] = error
    return r


def measure_all(args):
    directions = [False, True] if args.both_directions else [args.causal]
    total = len(args.kernels) * len(directions) * len(args.lengths)
    rows = []
    for kernel in args.kernels:
        for causal in directions:
            for length in args.lengths:
                label = f"{kernel} {'causal' if causal else 'bi'} L={length}"
                estimate = estimated_peak_bytes(args, kernel, causal, length)
                if estimate > args.max_gib * 2**30:
                    note = (f"skipped: estimated peak {estimate / 2**30:.1f} GiB > --max-gib {args.max_gib:g}"
                            + (" (non-CUDA causal prefix sums are O(L*m*d))" if causal else ""))
                    rows.append(row(args, kernel, causal, length, skipped=note))
                    print(f"[{len(rows)}/{total}] {label}: {note}", file=sys.stderr, flush=True)
                    continue
                proc = subprocess.run(child_arguments(args, kernel, causal, length),
                                      stdout=subprocess.PIPE, text=True)
                lines = [l for l in proc.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
                if proc.returncode != 0 or not lines:
                    reason = (f"child killed by signal {-proc.returncode}" if proc.returncode < 0
                              else f"child exited with status {proc.returncode}")
                    rows.append(row(args, kernel, causal, length, error="failed: " + reason))
                    print(f"[{len(rows)}/{total}] {label}: failed: {reason}", file=sys.stderr, flush=True)
                    continue
                measured = json.loads(lines[-1][len(RESULT_PREFIX):])
                rows.append(row(args, kernel, causal, length, measured=measured))
                print(f"[{len(rows)}/{total}] {label}: {measured['seconds'] * 1000:.2f} ms, "
                      f"peak {measured['peak_bytes'] / 2**20:.2f} MiB", file=sys.stderr, flush=True)
    return rows


def comparison_table(swift_rows, torch_rows):
    """Side-by-side lines for every (kernel, causal, length) present in both."""
    index = {(r["kernel"], r["causal"], r["length"]): r for r in swift_rows}
    lines = ["kernel\tdir\tL\tswift ms\tpytorch ms\tpytorch/swift\tswift MiB\tpytorch MiB"]
    for t in torch_rows:
        s = index.get((t["kernel"], t["causal"], t["length"]))
        if s is None:
            continue
        fields = [t["kernel"], "causal" if t["causal"] else "bi", str(t["length"])]
        st, tt = s.get("seconds"), t.get("seconds")
        fields.append(f"{st * 1000:.2f}" if st else s.get("skipped", s.get("error", "-")))
        fields.append(f"{tt * 1000:.2f}" if tt else t.get("skipped", t.get("error", "-")))
        fields.append(f"{tt / st:.2f}" if st and tt else "-")
        sp, tp = s.get("peak_bytes"), t.get("peak_bytes")
        fields.append(f"{sp / 2**20:.1f}" if sp is not None else "-")
        fields.append(f"{tp / 2**20:.1f}" if tp is not None else "-")
        lines.append("\t".join(fields))
    return "\n".join(lines)


def parse_list(text, convert):
    return [convert(x) for x in text.replace(" ", ",").split(",") if x]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default="favor-softmax,favor-relu",
                        type=lambda s: parse_list(s, str), help="favor-softmax, favor-relu")
    parser.add_argument("--lengths", default="512,1024,2048,4096,8192,16384,32768",
                        type=lambda s: parse_list(s, int))
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--causal", action="store_true")
    direction.add_argument("--both-directions", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-gib", type=float, default=8.0,
                        help="skip configurations whose estimated peak memory exceeds this")
    parser.add_argument("--output", help="write the JSON rows to this file (default: stdout)")
    parser.add_argument("--compare", metavar="SWIFT_JSON",
                        help="print a side-by-side table against `protein-tool bench attention --format json`")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for kernel in args.kernels:
        if kernel not in ("favor-softmax", "favor-relu"):
            parser.error(f"--kernels: unknown kernel '{kernel}' (expected favor-softmax, favor-relu)")
    if not args.lengths or min(args.lengths) < 1:
        parser.error("--lengths needs positive integers")
    if min(args.batch, args.heads, args.head_dim, args.features, args.repeats, args.threads) < 1:
        parser.error("--batch, --heads, --head-dim, --features, --repeats and --threads must be positive")

    if args.child:
        run_child(args)
        return
    rows = measure_all(args)
    text = json.dumps(rows)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if args.compare:
        with open(args.compare) as f:
            swift_rows = json.load(f)
        print(comparison_table(swift_rows, rows), file=sys.stdout if args.output else sys.stderr)
    if any("error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
