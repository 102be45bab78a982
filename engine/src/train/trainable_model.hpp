#pragma once
// A RetNet being trained on the GPU: fp32 master weights with their gradients and AdamW
// moments, f16 copies for the forward where the device has fp16 (with tensor cores, the
// backward products and chunkwise retention's products are f16 as well: mixed precision),
// and the recording of one micro-batch's forward pass (activations kept) and backward pass
// into a command stream.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu/stream.hpp"
#include "kernels/matmul.hpp"
#include "kernels/optimizer.hpp"
#include "kernels/retention.hpp"
#include "kernels/retention_backward.hpp"
#include "model/config.hpp"

namespace retnet::train {

struct Parameter {
  std::string name;          // fla's name
  gpu::Tensor value;         // f32 master weights
  gpu::Tensor grad, m, v;    // f32, same shape
  gpu::Tensor forward_copy;  // f16 copy for the forward (empty: the forward reads value)
  bool decay = true;         // weight decay applies: matrices yes, norm weights no
  const gpu::Tensor& forward() const { return forward_copy.empty() ? value : forward_copy; }
};

// Host copies of weights by fla name (f32), as checkpoints are read and written.
using HostWeights = std::map<std::string, std::vector<float>>;

// Weights drawn like transformers' _init_weights: matrices and embeddings N(0, std), norms 1.
HostWeights initial_weights(const model::ModelConfig& config, uint64_t seed, double std = 0.02);

class TrainableModel {
 public:
  // `weights` must hold every parameter of the config (check_checkpoint's rule).
  TrainableModel(Context& ctx, model::ModelConfig config, const HostWeights& weights, bool f16_forward,
                 int64_t chunk_size);
  ~TrainableModel();
  TrainableModel(const TrainableModel&) = delete;
  TrainableModel& operator=(const TrainableModel&) = delete;

  // Records forward and backward of N sequences of T tokens (row-major inputs/targets [N*T];
  // a negative target is ignored). Parameter gradients ACCUMULATE the gradient of
  // loss_scale * sum(token losses); the per-token losses are read back into *losses at the
  // next submit. With backward = false only the losses are computed (validation).
  // The inputs are uploaded when recording: submit the stream before recording the next batch.
  void record(gpu::Stream& s, const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets, int64_t N,
              int64_t T, float loss_scale, bool backward, std::vector<float>* losses);

  void record_zero_grads(gpu::Stream& s);
  // Global-norm clipping then AdamW on every parameter (weight decay only where p.decay).
  void record_optimizer_step(gpu::Stream& s, const kernels::AdamWSettings& settings, int64_t step);

  // A whole training step recorded once and replayed (the host then only writes the next
  // batches and learning rate; recording a step's thousand dispatches costs milliseconds):
  // record_step records into `s` zeroing the gradients, forward and backward of
  // `micro_batches` batches of N sequences of T tokens with loss_scale (their gradients add
  // up), and record_optimizer_step's work, and seals `s`. Each run_recorded_step writes the
  // batches (inputs and targets hold micro_batches x N x T tokens, one batch after another;
  // checked like record's), lr and the bias corrections of `step` into the recording, replays
  // it and reads the losses back in the same order. The other settings and the shapes are
  // those recorded: record again (after s.reset()) to change them. A record() of another
  // shape in between may reallocate what the recording uses: the next run_recorded_step then
  // records the step again first.
  void record_step(gpu::Stream& s, int64_t micro_batches, int64_t N, int64_t T, float loss_scale,
                   const kernels::AdamWSettings& settings);
  void run_recorded_step(gpu::Stream& s, const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets,
                         float lr, int64_t step, std::vector<float>* losses);

  // At most this many bytes of logits exist at once (default 256 MiB): the loss head walks the
  // rows in chunks of bytes / (4 V). Takes effect at the next batch shape.
  void set_logit_chunk_bytes(int64_t bytes);

  std::vector<Parameter>& parameters() { return params_; }
  const model::ModelConfig& config() const { return config_; }
  // Downloads the named tensors of every parameter (value, m or v).
  HostWeights download(gpu::Tensor Parameter::*which) const;
  // Uploads values into every parameter's `which` (and refreshes the f16 copies).
  void upload(gpu::Tensor Parameter::*which, const HostWeights& values);

 private:
  struct Layer;
  struct Activations;
  Parameter& param(const std::string& name);
  // Mixed precision: where the forward multiplies p's f16 copy on tensor cores, the backward
  // products of p run there too (f16 operands scaled into range, f32 sums); else f32 Tiled.
  kernels::MatmulPath backward_path(const Parameter& p) const;
  // Both gradients of y = x w^T: dx (+)= dy w, and w's gradient += dy^T x.
  // On the tensor-core path it reads max |x| and max |dy| where given (else reduces them) and
  // returns where max |x| is: pass it as x_maximum to the next call with the same x.
  kernels::OperandMaximum record_linear_backward(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy,
                                                 Parameter& w, gpu::Tensor& dx, bool accumulate_dx,
                                                 kernels::OperandMaximum x_maximum = {},
                                                 kernels::OperandMaximum dy_maximum = {});
  void ensure_activations(int64_t N, int64_t T);
  // The checks of record's batch (sizes, token ids).
  void check_batch(const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets, int64_t N, int64_t T) const;
  // record's work after its inputs are on their way to the GPU.
  void record_passes(gpu::Stream& s, float loss_scale, bool backward, std::vector<float>* losses);
  void record_lm_head_loss(gpu::Stream& s, float loss_scale, bool backward);
  // record_optimizer_step's dispatches, reading the step values from step_values_.
  void record_adamw(gpu::Stream& s, const kernels::AdamWSettings& settings);

  Context& ctx_;
  model::ModelConfig config_;
  int64_t chunk_size_;
  bool f16_retention_;  // retention's products on tensor cores too (mixed precision)
  // 256 MiB: the small config's 8192 rows x 32000 logits in 4 chunks, not 16, took its step
  // on the H100 from 90.8 to 87.5 ms (each chunk adds the lm_head's whole weight gradient).
  int64_t logit_bytes_ = 256ll << 20;
  std::vector<Parameter> params_;
  std::vector<Layer> layers_;
  Parameter *embeddings_ = nullptr, *final_norm_ = nullptr, *lm_head_ = nullptr;
  std::unique_ptr<Activations> act_;
  kernels::NormScratch norm_scratch_;
  kernels::RetentionChunkScratch retention_forward_scratch_;
  kernels::RetentionBackwardScratch retention_scratch_;
  kernels::MatmulScratch matmul_scratch_;
  gpu::Tensor step_values_;  // AdamW's lr and bias corrections (kernels::AdamWStepValues)
  // record_step's recording: where run_recorded_step writes its inputs (per micro-batch), and
  // what it was made for.
  struct RecordedStep {
    std::vector<int32_t*> inputs, targets, grouping;  // grouping: the inputs' positions by id
    std::vector<std::vector<float>> losses;
    kernels::AdamWStepValues* step_values = nullptr;
    kernels::AdamWSettings settings;
    float loss_scale = 1.0f;
    int64_t micro_batches = 0, N = 0, T = 0;
    const gpu::Stream* stream = nullptr;
    bool stale = false;  // a record() of another shape came after it
  } recorded_;
};

}  // namespace retnet::train
