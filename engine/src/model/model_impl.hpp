#pragma once
// The GPU side of a loaded model: its weights, the scratch activations of a forward step,
// and the recording of one step (N sequences x T tokens) into a command stream.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/stream.hpp"
#include "kernels/matmul.hpp"
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

// The recurrent states a step reads and updates, one tensor per layer: the step's N sequences
// together ([N, H, dk, dv]) in `batch`, or each sequence's own ([1, H, dk, dv]) in `sequences`,
// which only a decode step through kernels::retention_decode_states takes (a batched decode
// then updates each session's state where it is, with no copies into a batch and back).
struct StepStates {
  std::vector<gpu::Tensor>* batch = nullptr;
  std::vector<std::vector<gpu::Tensor>*> sequences;
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

  // A step of N sequences of T tokens each, recorded for Stream::replay: a decode step (T = 1,
  // recurrent form) or prefill pieces (chunkwise form), `states` as StepStates says (each
  // sequence's own only for a decode step), the logits those of each sequence's last token.
  // Write the N*T tokens and their positions through these pointers before each replay. The
  // recording stays valid while activations_generation() is unchanged (a larger step
  // reallocates the scratch activations it uses, a larger batch the batch states). Only a session's own decode step (`session_decode`: N = T = 1) may take the
  // persistent decode layer: Session::decode handles its timeout for that one session.
  struct StepInputs {
    int32_t* tokens = nullptr;
    int32_t* positions = nullptr;
    uint64_t generation = 0;
    // The step runs the persistent decode layer: after each replay, decode_sync()'s word 0
    // says whether it timed out (see kernels/decode_layer.hpp).
    bool checks_sync = false;
  };
  StepInputs record_replayable_step(gpu::Stream& s, const StepStates& states, int64_t N, int64_t T,
                                    bool session_decode) const;
  // Whether a decode step of several sequences can take each one's own states (StepStates::sequences).
  bool decodes_sequence_states() const { return retention_decode_states_ && !batch_state_copies_; }
  // Tests only: batched decode steps gather the sessions' states into a batch and scatter them
  // back even here, as on a device without retention_decode.
  void force_batch_state_copies() const;
  // Changes whenever recorded steps go stale: scratch they use was reallocated (the activations,
  // the batch states, the matmul scratch), or the persistent decode layer was stopped or retuned.
  uint64_t activations_generation() const { return activations_generation_ + matmul_scratch_.partials_growths(); }

  // Scratch states for a batched decode of N sessions where the device cannot decode each
  // session's own states (grown on demand; caller holds step_mutex).
  std::vector<gpu::Tensor>& batch_states(int64_t N) const;

  // The last batched decode step (Session::decode_batch), recorded with its sessions' states
  // and replayed while the same sessions come again in the same order: a serving loop records
  // once, not every token. Guarded by step_mutex.
  struct BatchedDecode {
    std::unique_ptr<gpu::Stream> stream;
    std::vector<uint64_t> sessions;  // SessionImpl::id of each, in order
    StepInputs inputs;
    std::vector<float> logits;       // [N, vocab] after each replay
  };
  mutable BatchedDecode batched_decode;

  // Token ids outside the vocabulary are a clear error before anything reaches the GPU.
  void check_tokens(const std::vector<int32_t>& tokens) const;

  void save(const std::string& folder) const;
  // Whether a one-token step runs through the fused decode kernels (kernels/decode.hpp).
  bool fused_decode_available() const { return fused_decode_; }
  // Workgroups of the persistent decode layer, 0 when recorded decode steps do not use it.
  uint32_t decode_layer_workgroups() const { return decode_layer_workgroups_; }
  const gpu::Tensor& decode_sync() const { return decode_sync_; }
  // After a persistent decode step timed out: later steps (recorded again) go without it.
  void stop_decode_layer() const;
  // Tests only: the syncs of recorded decode steps wait for workgroups that never come.
  void set_decode_sync_shortfall(uint32_t workgroups) const;
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
  void check_step(int64_t N, int64_t T, RetentionForm form, const StepStates& states) const;
  // Everything after the inputs are in act_.tokens / act_.positions.
  // persistent_layers: one token of one sequence, each layer through kernels::decode_layer.
  void record_compute(gpu::Stream& s, int64_t N, int64_t T, RetentionForm form, const StepStates& states,
                      bool all_logits, bool persistent_layers = false) const;
  // One token of one sequence through the fused decode kernels (kernels/decode.hpp).
  void record_fused_decode_layer(gpu::Stream& s, const LayerWeights& w, gpu::Tensor& state) const;
  // Which fused decode kernels this model's shapes can use on this device.
  bool fused_decode_ = false;     // every projection of a layer
  bool retention_decode_ = false; // rotary + retention step for T = 1
  bool retention_decode_states_ = false;  // the same with each sequence's own state
  bool fused_lm_head_ = false;    // final norm + lm_head for one row
  mutable uint32_t decode_layer_workgroups_ = 0;
  mutable uint32_t decode_sync_shortfall_ = 0;
  mutable bool batch_state_copies_ = false;
  mutable gpu::Tensor decode_sync_;  // kernels::decode_layer's sync words for one step
  mutable Activations act_;
  mutable kernels::MatmulScratch matmul_scratch_;  // the split forward products of few rows
  mutable uint64_t activations_generation_ = 0;
  mutable std::vector<gpu::Tensor> batch_states_;
};

}  // namespace retnet::model
