#pragma once
// The embedding API of retnet-vk: load a RetNet checkpoint, open sessions, prefill a
// prompt (chunkwise form), decode token by token (recurrent form), sample, stream text.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "retnet/device.hpp"

namespace retnet {

// The shapes of a loaded model (from its config.json).
struct ModelInfo {
  int64_t hidden_size = 0, num_layers = 0, num_heads = 0, vocab_size = 0;
  int64_t head_k_dim = 0, head_v_dim = 0, intermediate_size = 0;
  int64_t parameter_count = 0;
  uint64_t weight_bytes = 0;       // on the GPU
  std::string weight_dtype;        // "f16" or "f32"
  uint64_t state_bytes_per_session = 0;  // recurrent state: constant whatever the context length
};

// Which form of retention computes a whole-sequence forward pass (all give the same numbers).
enum class RetentionForm { Parallel, Chunkwise, Recurrent };

struct LoadOptions {
  // Weights in f16 when the fp16 fast path is active (default), else f32.
  bool prefer_f16 = true;
  int64_t chunk_size = 64;        // chunkwise prefill chunk length
  int64_t max_prefill_tokens = 2048;  // longer prompts are prefilled in pieces of this many tokens
  // Session::decode runs each layer as one persistent dispatch (kernels/decode_layer.hpp) on
  // this many workgroups: 0 picks one per compute unit where the device says how many it has
  // (else the layer runs as five dispatches), -1 never. Should the device not run them all at
  // once, the step is redone without it and the model stops using it.
  int64_t decode_workgroups = 0;
};

namespace model { class ModelImpl; class SessionImpl; }

class Model {
 public:
  // Loads `folder` (config.json + model.safetensors or sharded *.safetensors with
  // model.safetensors.index.json; tokenizer.model if present, else byte-level).
  static std::shared_ptr<Model> load(Context& ctx, const std::string& folder, const LoadOptions& options = {});
  ~Model();

  const ModelInfo& info() const;
  Context& context() const;

  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int32_t eos_id() const;  // -1 if the tokenizer has none

  // Logits [tokens.size(), vocab] of a whole sequence from position 0, in the chosen form.
  std::vector<float> forward(const std::vector<int32_t>& tokens, RetentionForm form = RetentionForm::Chunkwise) const;

  // Writes config.json + model.safetensors that fla/transformers load.
  void save(const std::string& folder) const;

  model::ModelImpl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<model::ModelImpl> impl);
  std::unique_ptr<model::ModelImpl> impl_;
};

// One sequence: its recurrent state (fp32, constant size) and position.
class Session {
 public:
  explicit Session(std::shared_ptr<Model> model);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs the prompt through the model (chunkwise form) and returns the last token's logits.
  std::vector<float> prefill(const std::vector<int32_t>& tokens);
  // One token through the recurrent form; returns its logits.
  std::vector<float> decode(int32_t token);
  // Several sessions of the same model, one token each, in one batched step; logits per session.
  // A single session takes decode()'s step, the faster one at batch 1.
  static std::vector<std::vector<float>> decode_batch(const std::vector<Session*>& sessions,
                                                      const std::vector<int32_t>& tokens);

  int64_t position() const;  // tokens seen so far
  void reset();

  // The state (all layers, fp32) and position: saved to and restored from a file, e.g. to
  // resume a conversation later. A snapshot only loads into a session of the same model shape.
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);

  Model& model() const;
  model::SessionImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<model::SessionImpl> impl_;
};

struct SamplingSettings {
  float temperature = 0.8f;  // 0: greedy
  int top_k = 40;            // 0: off
  float top_p = 0.95f;       // 1: off
  float repetition_penalty = 1.1f;
  uint64_t seed = 0;
};

struct GenerationStats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
  double prefill_tokens_per_s() const { return prefill_ms > 0 ? prompt_tokens * 1000.0 / prefill_ms : 0; }
  double decode_tokens_per_s() const { return decode_ms > 0 ? generated_tokens * 1000.0 / decode_ms : 0; }
  double ms_per_token() const { return generated_tokens ? decode_ms / generated_tokens : 0; }
  uint64_t gpu_memory_bytes = 0;  // peak device memory held by the context
};

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  SamplingSettings sampling;
  bool stop_at_eos = true;
  // Called with each piece of text as soon as it forms complete UTF-8; return false to stop.
  std::function<bool(const std::string&)> on_text;
};

// Prefills `prompt` into the session (continuing it if it has seen tokens), then samples and
// decodes up to max_new_tokens. Returns the generated text.
std::string generate(Session& session, const std::string& prompt, const GenerateOptions& options,
                     GenerationStats* stats = nullptr);

}  // namespace retnet
