// Text generation: prefill the prompt, then sample and decode token by token, streaming text.
#include <algorithm>
#include <chrono>

#include "model/model_impl.hpp"
#include "model/session_impl.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"
#include "text/sampler.hpp"
#include "text/tokenizer.hpp"

namespace retnet {

std::string generate(Session& session, const std::string& prompt, const GenerateOptions& options,
                     GenerationStats* stats) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t) {
    return std::chrono::duration<double, std::milli>(clock::now() - t).count();
  };
  auto& m = session.model().impl();
  text::SamplingOptions so;
  so.temperature = options.sampling.temperature;
  so.top_k = options.sampling.top_k;
  so.top_p = options.sampling.top_p;
  so.repetition_penalty = options.sampling.repetition_penalty;
  so.seed = options.sampling.seed;
  text::Sampler sampler(so);  // validates the settings before any GPU work

  std::vector<int32_t> prompt_ids = m.tokenizer->encode(prompt);
  if (prompt_ids.empty()) throw Error("empty prompt: give at least one character of text");
  GenerationStats local;
  local.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
  auto t0 = clock::now();
  std::vector<float> logits = session.prefill(prompt_ids);
  local.prefill_ms = ms_since(t0);

  text::StreamDecoder decoder(*m.tokenizer);
  std::string text;
  const int32_t eos = m.tokenizer->eos_id().value_or(-1);
  auto t1 = clock::now();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    // Only ids the tokenizer can turn into text (a model's vocabulary may be padded larger).
    const int64_t vocab = std::min<int64_t>(static_cast<int64_t>(logits.size()), m.tokenizer->vocab_size());
    int32_t token = sampler.sample(logits.data(), vocab, session.impl().history);
    if (options.stop_at_eos && token == eos) break;
    std::string piece = decoder.push(token);
    text += piece;
    local.generated_tokens += 1;
    // Every emitted token goes through the model, so the session can continue the text later.
    logits = session.decode(token);
    if (!piece.empty() && options.on_text && !options.on_text(piece)) break;
  }
  std::string rest = decoder.flush();
  if (!rest.empty()) {
    text += rest;
    if (options.on_text) options.on_text(rest);
  }
  local.decode_ms = ms_since(t1);
  local.gpu_memory_bytes = m.ctx.peak_allocated_bytes();
  if (stats) *stats = local;
  return text;
}

}  // namespace retnet
