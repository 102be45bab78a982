#pragma once
// The GPU side of a loaded model: its weights, the scratch activations of a forward step,
// and the recording of one step (N sequences x T tokens) into a command stream.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/stream.hpp"
#include "kernels/retention.hpp"
#include "model/config.hpp"
#include "retnet/model.hpp"
#include "text/tokenizer.hpp"

namespace retnet::model {

struct LayerWeights {
  gpu::Tensor attn_norm, q_proj, k_proj, v_proj, g_proj, g_norm, o_proj;
  gpu::Tensor mlp_norm, gate_proj, up_proj, down_proj;
};

// Scratch tensors for up to `rows` token rows; grown when a larger step comes.
struct Activations {
  int64_t rows = 0, logit_rows = 0;
  gpu::Tensor tokens, positions, h, a, q, k, v, g, o, gated, gate, up, ffn, last, logits;
  kernels::RetentionChunkScratch retention;  // chunk states of the chunkwise form (bounded; grows itself)
};

class ModelImpl {
 public:
  ModelImpl(Context& ctx, const std::string& folder, const LoadOptions& options);

  // Fresh zero recurrent states, one tensor [batch, H, dk, dv] per layer.
  std::vector<gpu::Tensor> new_states(int64_t batch, const std::string& name) const;

  // Records one forward step of N sequences of T tokens each (tokens and positions are
  // N*T row-major). `states` (one per layer, [N, H, dk, dv]) are read and updated by the
  // chunkwise and recurrent forms and ignored by the parallel form. Logits land in
  // `logits()`: all N*T rows when `all_logits`, else the last row of each sequence.
  void record_step(gpu::Stream& s, const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                   int64_t N, int64_t T, RetentionForm form, std::vector<gpu::Tensor>* states,
                   bool all_logits) const;
  const gpu::Tensor& logits() const { return act_.logits; }

  // A decode step (one token of one sequence, recurrent form) recorded for Stream::replay:
  // write the token and its position through these pointers before each replay. The
  // recording stays valid while activations_generation() is unchanged (a larger step
  // reallocates the scratch activations it uses).
  struct StepInputs {
    int32_t* token = nullptr;
    int32_t* position = nullptr;
    uint64_t generation = 0;
  };
  StepInputs record_replayable_decode(gpu::Stream& s, std::vector<gpu::Tensor>& states) const;
  uint64_t activations_generation() const { return activations_generation_; }

  // Scratch states for a batched decode of N sessions (grown on demand; caller holds step_mutex).
  std::vector<gpu::Tensor>& batch_states(int64_t N) const;

  // Token ids outside the vocabulary are a clear error before anything reaches the GPU.
  void check_tokens(const std::vector<int32_t>& tokens) const;

  void save(const std::string& folder) const;
  // Whether a one-token step runs through the fused decode kernels (kernels/decode.hpp).
  bool fused_decode_available() const { return fused_decode_; }
  // Every parameter under its fla name, in checkpoint order.
  std::vector<std::pair<std::string, const gpu::Tensor*>> named_parameters() const;
  // fla's name of a layer parameter (the output norm's name depends on config.fuse_norm).
  std::string layer_parameter_name(int64_t layer, const std::string& name) const;

  Context& ctx;
  ModelConfig config;
  ModelInfo info;
  LoadOptions options;
  gpu::DType weight_dtype;
  gpu::Tensor embeddings, final_norm, lm_head_untied;
  const gpu::Tensor* lm_head = nullptr;  // embeddings when tied
  std::vector<LayerWeights> layers;
  std::unique_ptr<text::Tokenizer> tokenizer;
  // One step records at a time: steps share the scratch activations.
  mutable std::mutex step_mutex;

 private:
  void ensure_activations(int64_t rows, int64_t logit_rows) const;
  void view_activations(int64_t rows) const;
  void check_step(int64_t N, int64_t T, RetentionForm form, const std::vector<gpu::Tensor>* states) const;
  // Everything after the inputs are in act_.tokens / act_.positions.
  void record_compute(gpu::Stream& s, int64_t N, int64_t T, RetentionForm form, std::vector<gpu::Tensor>* states,
                      bool all_logits) const;
  // One token of one sequence through the fused decode kernels (kernels/decode.hpp).
  void record_fused_decode_layer(gpu::Stream& s, const LayerWeights& w, gpu::Tensor& state) const;
  // Which fused decode kernels this model's shapes can use on this device.
  bool fused_decode_ = false;     // every projection of a layer
  bool retention_decode_ = false; // rotary + retention step for T = 1
  bool fused_lm_head_ = false;    // final norm + lm_head for one row
  mutable Activations act_;
  mutable uint64_t activations_generation_ = 0;
  mutable std::vector<gpu::Tensor> batch_states_;
};

}  // namespace retnet::model
