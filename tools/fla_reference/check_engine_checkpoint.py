#!/usr/bin/env python3
"""Loads checkpoints that retnet-vk saved (Model::save) with fla + transformers and compares
their logits with the reference logits fla computed from the original checkpoint.

    PYTHONPATH=/path/to/flash-linear-attention python3 check_engine_checkpoint.py \
        tests/data/fla_tiny/reference.json SAVED_DIR [SAVED_DIR ...]
"""
import json
import sys

import torch


def main():
    import fla  # noqa: F401
    from fla.models import RetNetForCausalLM
    torch.backends.cuda.matmul.allow_tf32 = False
    ref = json.load(open(sys.argv[1]))
    ids = torch.tensor([ref['prompt_ids']], device='cuda')
    expected = torch.tensor(ref['logits_chunk'], dtype=torch.float64)
    for folder in sys.argv[2:]:
        model = RetNetForCausalLM.from_pretrained(folder).cuda().float().eval()
        with torch.no_grad():
            got = model(ids).logits[0].double().cpu()
        print(json.dumps({'folder': folder, 'loaded_dtype': str(next(model.parameters()).dtype),
                          'max_abs_diff_vs_reference_chunk_logits': float((got - expected).abs().max())}))


if __name__ == '__main__':
    main()
