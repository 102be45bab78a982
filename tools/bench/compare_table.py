#!/usr/bin/env python3
"""Prints a markdown table comparing retnet-bench's JSON with peers.py's JSON."""
import json
import sys

engine = json.load(open(sys.argv[1]))
peers = json.load(open(sys.argv[2]))
rows = [('retnet-vk (Vulkan)', engine)] + [(k, v) for k, v in peers.items()
                                           if isinstance(v, dict) and 'decode' in v]
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

training = [('retnet-vk (Vulkan, f16 forward copies, f32 master)', engine.get('training_step'))]
training += [(k, v) for k, v in peers.get('training_step', {}).items()]
training = [(k, v) for k, v in training if v]
if training:
    print('\nTraining step (forward + backward + AdamW) of the small configuration '
          '(hidden 768, 12 layers, vocab 32000):\n')
    print('| | batch x tokens | ms/step | tokens/s | peak GiB |')
    print('| --- | --- | --- | --- | --- |')
    for name, t in training:
        peak = t.get('peak_bytes', 0) / 2**30
        print(f"| {name} | {t['batch']} x {t['seq_len']} | {t['ms_per_step']:.1f} | {t['tokens_per_s']:.0f} | {peak:.1f} |")
