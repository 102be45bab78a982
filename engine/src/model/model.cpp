// The public Model and Session: loading, whole-sequence forward passes, chunkwise prefill,
// recurrent (and batched) decode, and state snapshots.
#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "model/model_impl.hpp"
#include "model/session_impl.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"

namespace retnet {

std::shared_ptr<Model> Model::load(Context& ctx, const std::string& folder, const LoadOptions& options) {
  if (!std::filesystem::is_directory(folder))
    throw Error(fmt::format("model folder '{}' does not exist (a model folder holds config.json and "
                            "model.safetensors)", folder));
  return std::shared_ptr<Model>(new Model(std::make_unique<model::ModelImpl>(ctx, folder, options)));
}

Model::Model(std::unique_ptr<model::ModelImpl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }
Context& Model::context() const { return impl_->ctx; }
std::vector<int32_t> Model::encode(const std::string& text) const { return impl_->tokenizer->encode(text); }
std::string Model::decode(const std::vector<int32_t>& ids) const { return impl_->tokenizer->decode(ids); }
int32_t Model::eos_id() const { return impl_->tokenizer->eos_id().value_or(-1); }
void Model::save(const std::string& folder) const { impl_->save(folder); }

std::vector<float> Model::forward(const std::vector<int32_t>& tokens, RetentionForm form) const {
  if (tokens.empty()) throw Error("forward of an empty token sequence");
  std::lock_guard<std::mutex> lock(impl_->step_mutex);
  std::vector<gpu::Tensor> states;
  if (form != RetentionForm::Parallel) states = impl_->new_states(1, "forward");
  std::vector<int32_t> positions(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) positions[i] = static_cast<int32_t>(i);
  gpu::Stream s(impl_->ctx);
  impl_->record_step(s, tokens, positions, 1, static_cast<int64_t>(tokens.size()), form, &states, true);
  std::vector<float> logits;
  s.read_back(impl_->logits(), &logits);
  s.submit();
  return logits;
}

namespace model {
static uint64_t next_session_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

SessionImpl::SessionImpl(std::shared_ptr<Model> m) : model(std::move(m)), id(next_session_id()) {
  if (!model) throw Error("a session needs a model");
  states = model->impl().new_states(1, "session");
}

void SessionImpl::require_state(const char* what) const {
  if (state_lost)
    throw Error(fmt::format("{}: this session's state was lost by a failed decode step; reset() it or load_state() "
                            "first", what));
}
}  // namespace model

Session::Session(std::shared_ptr<Model> model) : impl_(std::make_unique<model::SessionImpl>(std::move(model))) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Model& Session::model() const { return *impl_->model; }
int64_t Session::position() const { return impl_->position; }

void Session::reset() {
  auto& m = impl_->model->impl();
  gpu::Stream s(m.ctx);
  for (auto& st : impl_->states) s.fill_zero(st);
  s.submit();
  impl_->position = 0;
  impl_->history.clear();
  impl_->state_lost = false;
}

namespace {

// The step of `what` runs up to position `last`, which the rotary embedding takes as 32 bits.
void require_position_fits(const char* what, int64_t last) {
  if (last > std::numeric_limits<int32_t>::max())
    throw Error(fmt::format("{}: position {} no longer fits the 32-bit positions of the rotary embedding", what, last));
}

// The stream a replayable step is recorded into: made at first use, else emptied of the old one.
gpu::Stream& fresh_recording(std::unique_ptr<gpu::Stream>& stream, Context& ctx) {
  if (!stream) stream = std::make_unique<gpu::Stream>(ctx);
  stream->reset();
  return *stream;
}

// Session::prefill with the model's step_mutex held.
std::vector<float> prefill_locked(model::ModelImpl& m, model::SessionImpl& session, const std::vector<int32_t>& tokens) {
  // Long prompts go in pieces: the scratch activations stay bounded, the state carries over.
  // A piece is recorded once and replayed for the next ones of its length (no host recording
  // of some 400 dispatches per piece).
  const int64_t piece = m.options.max_prefill_tokens;
  auto& st = session.prefill_stream;
  for (size_t begin = 0; begin < tokens.size(); begin += piece) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(piece));
    const int64_t T = static_cast<int64_t>(end - begin);
    require_position_fits("prefill", session.position + T - 1);
    if (!st || session.prefill_tokens != T || session.prefill_inputs.generation != m.activations_generation()) {
      fresh_recording(st, m.ctx);
      session.prefill_tokens = 0;  // until the recording is complete
      session.prefill_inputs = m.record_replayable_step(*st, {&session.states}, 1, T, false);
      st->read_back(m.logits(), &session.prefill_logits);
      st->seal();
      session.prefill_tokens = T;
    }
    std::copy(tokens.begin() + begin, tokens.begin() + end, session.prefill_inputs.tokens);
    for (int64_t i = 0; i < T; ++i) session.prefill_inputs.positions[i] = static_cast<int32_t>(session.position + i);
    st->replay();
    session.position += T;
  }
  session.history.insert(session.history.end(), tokens.begin(), tokens.end());
  return session.prefill_logits;
}

// A decode step timed out in the persistent decode layer (the device did not run all its
// workgroups at once) and may have changed part of the state: the model stops using that
// kernel, and the state is rebuilt from the tokens the session has seen.
void rebuild_state(model::ModelImpl& m, model::SessionImpl& session) {
  m.stop_decode_layer();
  if (static_cast<int64_t>(session.history.size()) != session.position) {
    session.state_lost = true;
    throw Error("decode: this device did not run the persistent decode kernel's workgroups all at once, and the "
                "session's state (loaded from a file without its full history) cannot be rebuilt: reset() it and "
                "prefill again; the model's later decode steps no longer use that kernel");
  }
  gpu::Stream s(m.ctx);
  for (auto& st : session.states) s.fill_zero(st);
  s.submit();
  const std::vector<int32_t> tokens = std::move(session.history);
  session.history.clear();
  session.position = 0;
  if (!tokens.empty()) prefill_locked(m, session, tokens);
}

}  // namespace

std::vector<float> Session::prefill(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) throw Error("prefill of an empty prompt: give at least one token");
  auto& m = impl_->model->impl();
  m.check_tokens(tokens);
  impl_->require_state("prefill");
  std::lock_guard<std::mutex> lock(m.step_mutex);
  return prefill_locked(m, *impl_, tokens);
}

std::vector<float> Session::decode(int32_t token) {
  auto& m = impl_->model->impl();
  std::lock_guard<std::mutex> lock(m.step_mutex);
  m.check_tokens({token});
  impl_->require_state("decode");
  require_position_fits("decode", impl_->position);
  // The step is recorded once per session and replayed (one submission, no host recording);
  // it is recorded again only when a larger step has reallocated the scratch activations.
  auto& st = impl_->decode_stream;
  auto step = [&] {  // false where the persistent decode layer timed out
    if (!st || impl_->decode_inputs.generation != m.activations_generation()) {
      fresh_recording(st, m.ctx);
      impl_->decode_inputs = m.record_replayable_step(*st, {&impl_->states}, 1, 1, true);
      st->read_back(m.logits(), &impl_->decode_logits);
      if (impl_->decode_inputs.checks_sync) st->read_back(m.decode_sync(), &impl_->decode_sync);
      st->seal();
    }
    impl_->decode_inputs.tokens[0] = token;
    impl_->decode_inputs.positions[0] = static_cast<int32_t>(impl_->position);
    st->replay();
    return !impl_->decode_inputs.checks_sync || impl_->decode_sync[0] == 0.0f;
  };
  if (!step()) {
    rebuild_state(m, *impl_);
    step();  // recorded again, without the persistent layer
  }
  impl_->position += 1;
  impl_->history.push_back(token);
  return impl_->decode_logits;
}

std::vector<std::vector<float>> Session::decode_batch(const std::vector<Session*>& sessions,
                                                      const std::vector<int32_t>& tokens) {
  if (sessions.empty()) return {};
  if (sessions.size() != tokens.size())
    throw Error(fmt::format("decode_batch: {} sessions but {} tokens", sessions.size(), tokens.size()));
  Model* model = &sessions[0]->model();
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (!sessions[i]) throw Error("decode_batch: a null session");
    if (&sessions[i]->model() != model) throw Error("decode_batch: all sessions must share one model");
    sessions[i]->impl_->require_state("decode_batch");
    for (size_t j = 0; j < i; ++j)
      if (sessions[j] == sessions[i]) throw Error("decode_batch: a session appears twice");
  }
  // One session: its own decode step, which takes the persistent decode layer where the device
  // runs it (and so is faster than a batch of one).
  if (sessions.size() == 1) return {sessions[0]->decode(tokens[0])};
  auto& m = model->impl();
  std::lock_guard<std::mutex> lock(m.step_mutex);
  m.check_tokens(tokens);
  const int64_t N = static_cast<int64_t>(sessions.size());
  for (Session* session : sessions) require_position_fits("decode_batch", session->impl_->position);
  // Recorded once for these sessions in this order, then replayed. The step updates each
  // session's states where they are; only where the device lacks retention_decode_states (an
  // array of storage buffers indexed per workgroup) does it gather them into one batch and
  // scatter them back (96 MiB each way a session for the 1.3b model).
  auto& step = m.batched_decode;
  std::vector<uint64_t> ids(N);
  for (int64_t n = 0; n < N; ++n) ids[n] = sessions[n]->impl_->id;
  if (!step.stream || step.sessions != ids || step.inputs.generation != m.activations_generation()) {
    auto& s = fresh_recording(step.stream, m.ctx);
    step.sessions.clear();  // until the recording is complete
    if (m.decodes_sequence_states()) {
      model::StepStates own;
      for (Session* session : sessions) own.sequences.push_back(&session->impl_->states);
      step.inputs = m.record_replayable_step(s, own, N, 1, false);
    } else {
      auto& batch = m.batch_states(N);  // every slot is overwritten by the copies in
      const size_t state_bytes = batch[0].bytes() / N;
      for (int64_t n = 0; n < N; ++n)
        for (size_t l = 0; l < batch.size(); ++l)
          s.copy_region(sessions[n]->impl_->states[l], 0, batch[l], n * state_bytes, state_bytes, true);
      step.inputs = m.record_replayable_step(s, {&batch}, N, 1, false);
      for (int64_t n = 0; n < N; ++n)
        for (size_t l = 0; l < batch.size(); ++l)
          s.copy_region(batch[l], n * state_bytes, sessions[n]->impl_->states[l], 0, state_bytes);
    }
    s.read_back(m.logits(), &step.logits);
    s.seal();
    step.sessions = ids;
  }
  for (int64_t n = 0; n < N; ++n) {
    step.inputs.tokens[n] = tokens[n];
    step.inputs.positions[n] = static_cast<int32_t>(sessions[n]->impl_->position);
  }
  step.stream->replay();
  const int64_t V = m.config.vocab_size;
  std::vector<std::vector<float>> out(N);
  for (int64_t n = 0; n < N; ++n) {
    out[n].assign(step.logits.begin() + n * V, step.logits.begin() + (n + 1) * V);
    sessions[n]->impl_->position += 1;
    sessions[n]->impl_->history.push_back(tokens[n]);
  }
  return out;
}

namespace {
constexpr char kStateMagic[8] = {'R', 'E', 'T', 'N', 'S', 'T', 'A', '1'};
struct StateHeader {
  char magic[8];
  int64_t layers, heads, head_k_dim, head_v_dim, position, history_length;
};
}  // namespace

void Session::save_state(const std::string& path) const {
  auto& m = impl_->model->impl();
  impl_->require_state("save_state");
  StateHeader h{};
  std::memcpy(h.magic, kStateMagic, 8);
  h.layers = m.config.num_layers;
  h.heads = m.config.num_heads;
  h.head_k_dim = m.config.head_k_dim;
  h.head_v_dim = m.config.head_v_dim;
  h.position = impl_->position;
  h.history_length = static_cast<int64_t>(impl_->history.size());
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write session state to '{}'", path));
    out.write(reinterpret_cast<const char*>(&h), sizeof h);
    for (const auto& st : impl_->states) {
      auto values = st.download();
      out.write(reinterpret_cast<const char*>(values.data()), values.size() * 4);
    }
    out.write(reinterpret_cast<const char*>(impl_->history.data()), impl_->history.size() * 4);
    out.flush();
    if (!out) throw Error(fmt::format("writing session state to '{}' failed (disk full?)", path));
  }
  std::filesystem::rename(tmp, path);
}

void Session::load_state(const std::string& path) {
  auto& m = impl_->model->impl();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open session state '{}'", path));
  StateHeader h{};
  in.read(reinterpret_cast<char*>(&h), sizeof h);
  if (!in || std::memcmp(h.magic, kStateMagic, 8) != 0)
    throw Error(fmt::format("'{}' is not a retnet session state", path));
  if (h.layers != m.config.num_layers || h.heads != m.config.num_heads || h.head_k_dim != m.config.head_k_dim ||
      h.head_v_dim != m.config.head_v_dim)
    throw Error(fmt::format("session state '{}' is for a model with {} layers, {} heads, head dims {}x{}; this "
                            "model has {} layers, {} heads, head dims {}x{}", path, h.layers, h.heads, h.head_k_dim,
                            h.head_v_dim, m.config.num_layers, m.config.num_heads, m.config.head_k_dim,
                            m.config.head_v_dim));
  if (h.position < 0 || h.history_length < 0 || h.history_length > h.position)
    throw Error(fmt::format("session state '{}' is corrupt (position {})", path, h.position));
  std::vector<std::vector<float>> values(h.layers);
  for (auto& v : values) {
    v.resize(impl_->states[0].numel());
    in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
  }
  std::vector<int32_t> history(h.history_length);
  in.read(reinterpret_cast<char*>(history.data()), history.size() * 4);
  if (!in) throw Error(fmt::format("session state '{}' is truncated", path));
  for (int64_t l = 0; l < h.layers; ++l) impl_->states[l].upload(values[l]);
  impl_->position = h.position;
  impl_->state_lost = false;
  impl_->history = std::move(history);
}

}  // namespace retnet
