// `retnet train`: trains or fine-tunes a model with a progress bar, held-out loss, a loss
// curve and crash-safe checkpoints (see retnet/train.hpp for what each option does).
#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <unistd.h>

#include "demo/commands.hpp"
#include "retnet/train.hpp"

namespace demo {

namespace {

// Ctrl-C (or SIGTERM) asks the run to stop after the current step, with a checkpoint.
volatile std::sig_atomic_t g_stop_requested = 0;
void request_stop(int) { g_stop_requested = 1; }

std::string duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s / 60 % 60) : fmt::format("{}m{:02}s", s / 60, s % 60);
}

}  // namespace

void add_train_options(CLI::App* cmd, TrainArgs& a) {
  auto& o = a.options;
  cmd->add_option("--data", o.data, "Training text: a file or a folder of text files")->required();
  cmd->add_option("--out", o.out, "Run folder: checkpoint/, model/, loss.csv, loss.svg")->required();
  cmd->add_option("--init", o.init, "Fine-tune this model folder");
  cmd->add_option("--config", o.config, "A fresh model: config.json path or JSON text, e.g. '{\"hidden_size\":256}'");
  cmd->add_option("--steps", o.steps, "Optimizer steps")->capture_default_str();
  cmd->add_option("--seq-len", o.seq_len, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--batch", o.batch, "Sequences per micro-batch")->capture_default_str();
  cmd->add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step")->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--min-lr-ratio", o.min_lr_ratio, "Cosine decay floor, as a fraction of --lr")->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Warmup steps (-1: min(100, steps/10))")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (weight matrices only)")->capture_default_str();
  cmd->add_option("--beta1", o.beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", o.beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--max-grad-norm", o.max_grad_norm, "Global-norm gradient clipping (0: off)")->capture_default_str();
  cmd->add_option("--eval-every", o.eval_every, "Held-out loss every N steps")->capture_default_str();
  cmd->add_option("--eval-batches", o.eval_batches, "Held-out batches per evaluation")->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Checkpoint every N steps")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the initial weights and the batch order")->capture_default_str();
  cmd->add_option("--chunk-size", o.chunk_size, "Chunkwise retention chunk length")->capture_default_str();
  cmd->add_flag("--resume", o.resume, "Continue the run in --out from its checkpoint, exactly");
  cmd->add_option("--stop-after", o.stop_after, "Stop after N steps of this invocation (then --resume)");
  cmd->add_flag("--f32", a.f32, "Keep the forward pass in f32 weights even where the device has fp16");
  cmd->add_option("--device", a.device, "Device index or part of its name");
}

int run_train(TrainArgs& a) {
  auto options = retnet::ContextOptions::from_environment();
  if (!a.device.empty()) options.device = a.device;
  retnet::Context ctx(options);
  a.options.f16_forward = !a.f32;
  g_stop_requested = 0;
  a.options.should_stop = [] { return g_stop_requested != 0; };
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  fmt::print("device: {}\n", ctx.device().name);
  const bool tty = isatty(fileno(stdout));
  auto result = retnet::run_training(ctx, a.options, [&](const retnet::TrainProgress& p) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * p.step / std::max<int64_t>(p.steps, 1));
    std::string line = fmt::format("[{}{}] step {}/{} loss {:.4f} | {:.0f} tok/s | lr {:.2e} | ETA {}",
                                   std::string(filled, '#'), std::string(kWidth - filled, '.'), p.step, p.steps, p.loss,
                                   p.tokens_per_s, p.learning_rate, duration(p.eta_s));
    if (p.validation_loss) line += fmt::format(" | validation {:.4f} ({:.3f} bits/token)", *p.validation_loss,
                                               *p.validation_loss / std::log(2.0));
    if (p.checkpoint_written) line += " | checkpoint";
    // A terminal sees one line rewritten in place; a log file gets the notable lines only.
    if (tty) {
      fmt::print("\r{}\x1b[K", line);
      if (p.validation_loss || p.step == p.steps) fmt::print("\n");
    } else if (p.validation_loss || p.checkpoint_written || p.step == p.steps) {
      fmt::print("{}\n", line);
    }
    std::fflush(stdout);
  });
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (g_stop_requested) fmt::print("\ninterrupted: checkpoint written; run again with --resume to continue");
  fmt::print("\ndone: step {}, loss {:.4f}", result.step, result.loss);
  if (result.validation_loss) fmt::print(", validation loss {:.4f}", *result.validation_loss);
  fmt::print("\ncheckpoint: {}\n", result.checkpoint);
  return report_validation(ctx);
}

}  // namespace demo
