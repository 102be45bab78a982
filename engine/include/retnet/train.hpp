#pragma once
// Training and fine-tuning on the device: `retnet train` is a thin shell around run_training().
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "retnet/device.hpp"

namespace retnet {

// Defaults follow what transformers/PyTorch users expect: torch.optim.AdamW's betas and eps,
// global-norm clipping at 1.0 (Trainer's max_grad_norm), linear warmup then cosine decay
// (get_cosine_schedule_with_warmup, here to a floor of min_lr_ratio * lr), weight decay on
// weight matrices only (never on norm weights), weights initialised N(0, 0.02) with norms at 1
// (transformers' initializer_range).
struct TrainOptions {
  std::string data;    // a text file or a folder of them
  std::string out;     // the run's folder: checkpoint/, loss.csv, loss.svg, model/
  std::string init;    // fine-tune this model folder ("" = a fresh model from `config`)
  std::string config;  // fresh model: a config.json path or JSON text (fla RetNetConfig keys;
                       // vocab_size defaults to the byte-level tokenizer's 259)
  int64_t steps = 1000;
  int64_t seq_len = 256, batch = 8, grad_accum = 1;  // tokens per step: batch * seq_len * grad_accum
  double lr = 1e-3, min_lr_ratio = 0.1;
  int64_t warmup = -1;  // -1: min(100, steps / 10)
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, max_grad_norm = 1.0;
  int64_t eval_every = 100, eval_batches = 16;  // held-out loss every eval_every steps
  int64_t checkpoint_every = 100;
  double validation_fraction = 0.05;  // the last 5% of the text is held out
  uint64_t seed = 1;                  // initial weights and the order of the batches
  int64_t chunk_size = 64;            // chunkwise retention chunk length
  bool f16_forward = true;            // f16 weight copies for the forward where the device has fp16
                                      // (with tensor cores: f16 products in the backward too)
  bool resume = false;                // continue from out/checkpoint exactly
  int64_t stop_after = 0;             // > 0: stop after this many steps of this run (to test resuming)
  // Asked after every step; true stops the run there with a checkpoint written, so an
  // interrupted run (Ctrl-C in `retnet train`) loses nothing and --resume continues it.
  std::function<bool()> should_stop;
};

struct TrainProgress {
  int64_t step = 0, steps = 0;
  double loss = 0;  // mean cross-entropy of the step, nats per token
  double learning_rate = 0, tokens_per_s = 0, eta_s = 0;
  std::optional<double> validation_loss;
  bool checkpoint_written = false;
};

struct TrainResult {
  int64_t step = 0;  // the last step done
  double loss = 0;
  std::optional<double> validation_loss;
  std::string checkpoint;  // folder of the last checkpoint
};

// Trains; `progress` is called after every step. Errors (bad data, a sequence longer than
// the data, a diverging loss, out of memory) are a retnet::Error naming the problem; the
// last checkpoint on disk always stays loadable.
TrainResult run_training(Context& ctx, const TrainOptions& options,
                  const std::function<void(const TrainProgress&)>& progress = {});

}  // namespace retnet
