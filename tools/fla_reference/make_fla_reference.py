#!/usr/bin/env python3
"""Builds a tiny RetNet with fla-org/flash-linear-attention (random weights, fixed seed),
saves it as a Hugging Face folder, and records the logits fla computes for a fixed prompt in
each of its retention modes, plus an independent float64 implementation of
shared/retnet-math.md. retnet-vk's tests load the folder and compare (tests/test_fla_compat.cpp).

Run on a CUDA machine with PyTorch, transformers and Triton, with fla's source on PYTHONPATH:
    PYTHONPATH=/path/to/flash-linear-attention python3 make_fla_reference.py --out DIR
"""
import argparse
import json
import math
import os
import subprocess

import torch


def fp64_reference(sd, cfg, ids):
    """retnet-math.md's forward pass in float64 on the CPU, from the state dict alone."""
    sd = {k: v.detach().double().cpu() for k, v in sd.items()}
    D, H = cfg.hidden_size, cfg.num_heads
    dk, dv = int(D * cfg.expand_k) // H, int(D * cfg.expand_v) // H
    eps = cfg.norm_eps
    T = len(ids)

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def rotary(x):  # x [T, H, dk]
        half = dk // 2
        inv = 10000.0 ** (-torch.arange(half, dtype=torch.float64) * 2 / dk)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
        c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * c - b * s, b * c + a * s], -1)

    h = sd['model.embeddings.weight'][torch.tensor(ids)]
    for i in range(cfg.num_hidden_layers):
        p = f'model.layers.{i}.'
        a = rms(h, sd[p + 'attn_norm.weight'])
        q = rotary((a @ sd[p + 'attn.q_proj.weight'].T).view(T, H, dk))
        k = rotary((a @ sd[p + 'attn.k_proj.weight'].T).view(T, H, dk))
        v = (a @ sd[p + 'attn.v_proj.weight'].T).view(T, H, dv)
        g = (a @ sd[p + 'attn.g_proj.weight'].T).view(T, H, dv)
        o = torch.zeros(T, H, dv, dtype=torch.float64)
        n = torch.arange(T, dtype=torch.float64)
        for head in range(H):
            gamma = 1 - 2.0 ** (-5 - head)
            decay = torch.where(n[:, None] >= n[None, :], gamma ** (n[:, None] - n[None, :]), torch.zeros(()))
            scores = (q[:, head] @ k[:, head].T) * dk ** -0.5 * decay
            o[:, head] = scores @ v[:, head]
        o = rms(o, sd[p + 'attn.g_norm_swish_gate.weight']) * (g * torch.sigmoid(g))
        h = h + o.reshape(T, H * dv) @ sd[p + 'attn.o_proj.weight'].T
        m = rms(h, sd[p + 'mlp_norm.weight'])
        gate = m @ sd[p + 'mlp.gate_proj.weight'].T
        up = m @ sd[p + 'mlp.up_proj.weight'].T
        h = h + ((gate * torch.sigmoid(gate)) * up) @ sd[p + 'mlp.down_proj.weight'].T
    head = sd['lm_head.weight'] if 'lm_head.weight' in sd else sd['model.embeddings.weight']
    return rms(h, sd['model.norm.weight']) @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    import fla  # noqa: F401  (registers the models with transformers)
    import safetensors.torch
    import transformers
    import triton
    from fla.models import RetNetConfig, RetNetForCausalLM

    cfg = RetNetConfig(hidden_size=64, num_hidden_layers=2, num_heads=4, expand_k=1.0, expand_v=2.0,
                       vocab_size=259, tie_word_embeddings=False, norm_eps=1e-6, attn_mode='chunk',
                       bos_token_id=256, eos_token_id=257, pad_token_id=258, fuse_cross_entropy=False)
    torch.manual_seed(1234)
    model = RetNetForCausalLM(cfg).cuda().float().eval()
    # fla's initialisation (std 0.02) makes nearly uniform logits; give every matrix unit-scale
    # outputs and every norm weight 1 + noise, so the comparison exercises every parameter.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif 'embeddings' in name:
                p.normal_(0, 1)
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[1]))

    text = b"RetNet keeps a fixed-size state: decoding costs the same at token 10 or 10000. "
    ids = list(text) + [(7 * i + 3) % 256 for i in range(100 - len(text))]
    ids = ids[:100]  # > 64 tokens, so fla's default 'chunk' mode is used for the whole sequence
    x = torch.tensor([ids], device='cuda')

    logits = {}
    with torch.no_grad():
        for mode in ['chunk', 'fused_chunk', 'parallel', 'fused_recurrent']:
            for layer in model.model.layers:
                layer.attn.mode = mode
            try:
                logits[mode] = model(x).logits[0].double().cpu()
            except Exception as e:  # a mode fla cannot run here is recorded, not fatal
                logits[mode] = None
                print(f'mode {mode} failed: {e!r}')
        for layer in model.model.layers:
            layer.attn.mode = 'chunk'
        # Token by token with fla's cache (its decode path).
        try:
            out = model(x[:, :40], use_cache=True)
            pkv, rows = out.past_key_values, [out.logits[0]]
            for t in range(40, len(ids)):
                out = model(x[:, t:t + 1], past_key_values=pkv, use_cache=True)
                pkv = out.past_key_values
                rows.append(out.logits[0])
            logits['cached_decode'] = torch.cat(rows).double().cpu()
        except Exception as e:
            logits['cached_decode'] = None
            print(f'cached decode failed: {e!r}')

    sd = model.state_dict()
    ref = fp64_reference(sd, cfg, ids)
    base = logits['chunk']

    def maxdiff(a, b):
        return None if a is None or b is None else float((a - b).abs().max())

    report = {
        'fla_commit': os.environ.get('FLA_COMMIT', 'unknown'),
        'torch': torch.__version__, 'transformers': transformers.__version__, 'triton': triton.__version__,
        'device': torch.cuda.get_device_name(0), 'tf32_disabled': True,
        'prompt_ids': ids,
        'logits_scale_max_abs': float(base.abs().max()),
        'max_abs_diff_vs_chunk': {m: maxdiff(v, base) for m, v in logits.items()},
        'max_abs_diff_fp64_reference_vs': {m: maxdiff(v, ref) for m, v in logits.items()},
        'vocab_size': cfg.vocab_size,
        'logits_chunk': [[float(f'{v:.7g}') for v in row] for row in base.tolist()],
        'logits_reference_fp64': [[float(f'{v:.9g}') for v in row] for row in ref.tolist()],
    }
    print(json.dumps({k: v for k, v in report.items() if not k.startswith('logits_') and k != 'prompt_ids'}, indent=1))
    safetensors.torch.save_file({k: v.contiguous().cpu() for k, v in sd.items()}, os.path.join(args.out, 'model.safetensors'),
                                metadata={'format': 'pt'})
    cfg.save_pretrained(args.out)
    with open(os.path.join(args.out, 'reference.json'), 'w') as f:
        json.dump(report, f)


if __name__ == '__main__':
    main()
