#pragma once
#include <memory>
#include <vector>

#include "gpu/stream.hpp"
#include "gpu/tensor.hpp"
#include "model/model_impl.hpp"
#include "retnet/model.hpp"

namespace retnet::model {

class SessionImpl {
 public:
  explicit SessionImpl(std::shared_ptr<Model> model);
  std::shared_ptr<Model> model;
  // Unique in the process, never reused: a recorded batched decode step (ModelImpl::BatchedDecode)
  // is replayed only for the sessions it was recorded with.
  const uint64_t id;
  std::vector<gpu::Tensor> states;  // per layer [1, H, dk, dv], fp32
  int64_t position = 0;
  std::vector<int32_t> history;     // tokens seen, for the repetition penalty
  // A failed decode step left the state half-updated and it could not be rebuilt: every use
  // of the session but reset() and load_state() is refused until then.
  bool state_lost = false;
  void require_state(const char* what) const;
  // The decode step, recorded once and replayed for every token (no per-step recording).
  std::unique_ptr<gpu::Stream> decode_stream;
  ModelImpl::StepInputs decode_inputs;
  std::vector<float> decode_logits;
  std::vector<float> decode_sync;  // the step's sync words, where it checks them
  // The last prefill piece's recording, replayed for later pieces of the same length (a long
  // prompt is prefilled in pieces of LoadOptions::max_prefill_tokens).
  std::unique_ptr<gpu::Stream> prefill_stream;
  ModelImpl::StepInputs prefill_inputs;
  int64_t prefill_tokens = 0;  // tokens of the recorded piece
  std::vector<float> prefill_logits;
};

}  // namespace retnet::model
