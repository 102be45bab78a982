#!/usr/bin/env python3
"""Prints a markdown table comparing retnet-bench's JSON with peers.py's JSON."""
import json
import sys

engine = json.load(open(sys.argv[1]))
peers = json.load(open(sys.argv[2]))
rows = [('retnet-vk (Vulkan)', engine)] + [(k, v) for k, v in peers.items() if isinstance(v, dict)]
contexts = [d['context'] for d in engine['decode']]
print(f"Device: {engine['device']} ({engine['driver']}); batch 1, f16 weights, random init.\n")
print('| | ' + ' | '.join(f'decode ms/token @{c // 1024}k' for c in contexts)
      + ' | ' + ' | '.join(f'peak GiB @{c // 1024}k' for c in contexts) + ' | '
      + ' | '.join(f"prefill tok/s @{p['tokens']}" for p in engine['prefill']) + ' |')
print('|' + ' --- |' * (1 + 2 * len(contexts) + len(engine['prefill'])))
for name, r in rows:
    dec = {d['context']: d for d in r['decode']}
    pre = {p['tokens']: p for p in r['prefill']}
    cells = [f"{dec[c]['ms_per_token']:.2f}" if c in dec else '-' for c in contexts]
    cells += [f"{dec[c]['peak_bytes'] / 2**30:.1f}" if c in dec else '-' for c in contexts]
    cells += [f"{pre[p['tokens']]['tokens_per_s']:.0f}" if p['tokens'] in pre else '-' for p in engine['prefill']]
    print(f'| {name} | ' + ' | '.join(cells) + ' |')
