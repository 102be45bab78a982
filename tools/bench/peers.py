#!/usr/bin/env python3
"""PyTorch peers of retnet-bench, same shapes, random f16 weights, on one CUDA GPU:
fla's RetNet (its Triton kernels) and a Llama of the same size from transformers with its KV
cache. Measures decode ms/token at batch 1 after each context (median of timed steps,
including the per-step host work each framework needs), prefill tokens/s, peak memory, and
tokens/s of a training step (forward + backward + AdamW, bf16 autocast over fp32 master
weights, the usual PyTorch recipe) of the small configuration retnet-bench trains.

    PYTHONPATH=/path/to/flash-linear-attention python3 tools/bench/peers.py --out peers.json
"""
import argparse
import json
import os
import time

import torch


def timed_decode(model, ctx_len, steps, vocab):
    torch.manual_seed(0)
    ids = torch.randint(0, vocab, (1, ctx_len), device='cuda')
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(ids, use_cache=True)
        torch.cuda.synchronize()
        prefill_s = time.perf_counter() - t0
        cache = out.past_key_values
        tok = out.logits[:, -1:].argmax(-1)
        times = []
        for _ in range(steps):
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            out = model(tok, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            tok = out.logits[:, -1:].argmax(-1)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t1) * 1e3)
    times.sort()
    return {'context': ctx_len, 'prefill_s': prefill_s, 'ms_per_token': times[len(times) // 2],
            'peak_bytes': torch.cuda.max_memory_allocated()}


def timed_prefill(model, n, vocab):
    ids = torch.randint(0, vocab, (1, n), device='cuda')
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        model(ids, use_cache=False)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(ids, use_cache=False)
        torch.cuda.synchronize()
    return {'tokens': n, 'tokens_per_s': n / (time.perf_counter() - t0), 'peak_bytes': torch.cuda.max_memory_allocated()}


def timed_training(build, batch, seq_len, steps=5):
    torch.manual_seed(0)
    model = build().to('cuda').train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, 32000, (batch, seq_len + 1), device='cuda')
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 2):  # two warm-up steps (Triton compilation, autotuning)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast('cuda', dtype=torch.bfloat16):
            loss = model(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    ms = times[len(times) // 2] * 1e3
    out = {'batch': batch, 'seq_len': seq_len, 'ms_per_step': ms, 'tokens_per_s': batch * seq_len / ms * 1e3,
           'peak_bytes': torch.cuda.max_memory_allocated(), 'parameters': sum(p.numel() for p in model.parameters())}
    del model, opt
    torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--contexts', default='1024,8192,32768')
    ap.add_argument('--prefill', default='512,2048,8192')
    ap.add_argument('--steps', type=int, default=32)
    ap.add_argument('--train-batch', type=int, default=4)
    ap.add_argument('--train-seq', type=int, default=2048)
    ap.add_argument('--parts', default='inference,training',
                    help='what to measure; results are merged into an existing --out file')
    args = ap.parse_args()
    parts = set(args.parts.split(','))
    contexts = [int(c) for c in args.contexts.split(',')]
    prefills = [int(p) for p in args.prefill.split(',')]
    import fla  # noqa: F401
    import transformers
    from fla.models import RetNetConfig, RetNetForCausalLM
    from transformers import LlamaConfig, LlamaForCausalLM

    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    results.update({'device': torch.cuda.get_device_name(0), 'torch': torch.__version__,
                    'transformers': transformers.__version__})
    peers = {
        'fla_retnet_1.3b': lambda: RetNetForCausalLM(RetNetConfig(vocab_size=32000, fuse_cross_entropy=False)),
        # The Transformer a user would run instead: same width, depth and vocabulary.
        'llama_1.3b_kv_cache': lambda: LlamaForCausalLM(LlamaConfig(
            hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16,
            intermediate_size=5632, vocab_size=32000, max_position_embeddings=max(contexts) + 1024,
            attn_implementation='sdpa')),
    }
    for name, build in (peers.items() if 'inference' in parts else []):
        torch.manual_seed(0)
        model = build().to('cuda', torch.float16).eval()
        params = sum(p.numel() for p in model.parameters())
        r = {'parameters': params, 'decode': [], 'prefill': []}
        timed_decode(model, 64, 4, 32000)  # warm-up (Triton compilation, cuBLAS heuristics)
        for c in contexts:
            r['decode'].append(timed_decode(model, c, args.steps, 32000))
            print(name, r['decode'][-1], flush=True)
        for p in prefills:
            r['prefill'].append(timed_prefill(model, p, 32000))
            print(name, r['prefill'][-1], flush=True)
        results[name] = r
        json.dump(results, open(args.out, 'w'), indent=1)
        del model
        torch.cuda.empty_cache()
    # Training step of the small configuration (hidden 768, 12 layers, 8 heads, vocab 32000).
    small = {
        'fla_retnet_small': lambda: RetNetForCausalLM(RetNetConfig(
            hidden_size=768, num_hidden_layers=12, num_heads=8, vocab_size=32000)),
        'llama_small': lambda: LlamaForCausalLM(LlamaConfig(
            hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
            intermediate_size=2048, vocab_size=32000, attn_implementation='sdpa')),
    }
    for name, build in (small.items() if 'training' in parts else []):
        r = timed_training(build, args.train_batch, args.train_seq)
        print(name, r, flush=True)
        results.setdefault('training_step', {})[name] = r
        json.dump(results, open(args.out, 'w'), indent=1)  # after each peer: a time limit keeps what is done
    json.dump(results, open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
