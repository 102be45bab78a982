// The whole model on the GPU: logits against the CPU reference model, the three retention
// forms against each other, prefill + decode against one parallel pass, batched decode,
// state snapshots, checkpoint round trips, and clear errors for malformed input.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kernels/decode_layer.hpp"
#include "model/config.hpp"
#include "model/model_impl.hpp"
#include "model/safetensors.hpp"
#include "reference/model.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"
#include "test_support.hpp"
#include "tiny_model.hpp"

using namespace retnet;

namespace {

const double kModelTolerance = 2e-4;  // fp32 GPU vs double CPU over 2 layers (f32 weights)

std::vector<float> last_row(const std::vector<float>& logits, int64_t V) {
  return std::vector<float>(logits.end() - V, logits.end());
}

std::vector<float> row(const std::vector<float>& logits, int64_t V, int64_t r) {
  return std::vector<float>(logits.begin() + r * V, logits.begin() + (r + 1) * V);
}

LoadOptions f32_weights() {
  LoadOptions o;
  o.prefer_f16 = false;
  o.chunk_size = 16;
  return o;
}

// The tiny model (f32 weights) with its decode steps through the persistent decode layer on
// one workgroup; null where the device cannot run that layer.
std::shared_ptr<Model> tiny_model_on_one_decode_workgroup(const std::string& tag) {
  LoadOptions o = f32_weights();
  o.decode_workgroups = 1;
  auto model = Model::load(test::context(), test::tiny_model_folder(tag), o);
  return model->impl().decode_layer_workgroups() == 0 ? nullptr : model;
}

}  // namespace

TEST_CASE("model logits match the CPU reference model in all three forms", "[model]") {
  auto folder = test::tiny_model_folder("ref");
  auto model = Model::load(test::context(), folder, f32_weights());
  auto tokens = test::random_tokens(37, static_cast<int32_t>(model->info().vocab_size), 5);
  auto cpu = reference::model_forward(test::tiny_model_config(), test::tiny_model_weights(), tokens);
  for (auto form : {RetentionForm::Parallel, RetentionForm::Chunkwise, RetentionForm::Recurrent}) {
    INFO("form " << static_cast<int>(form));
    CHECK(test::max_rel_error(model->forward(tokens, form), cpu) < kModelTolerance);
  }
}

TEST_CASE("f16 weights stay close to the f32 model", "[model]") {
  auto folder = test::tiny_model_folder("f16");
  LoadOptions o = f32_weights();
  o.prefer_f16 = true;
  auto model = Model::load(test::context(), folder, o);
  auto tokens = test::random_tokens(20, static_cast<int32_t>(model->info().vocab_size), 6);
  auto cpu = reference::model_forward(test::tiny_model_config(), test::tiny_model_weights(), tokens);
  CHECK(model->info().weight_dtype == (test::context().active_paths().fp16 ? "f16" : "f32"));
  CHECK(test::max_rel_error(model->forward(tokens), cpu) < 5e-3);  // f16 rounding of the weights
}

TEST_CASE("prefill of N tokens then M decode steps equals the parallel forward of N+M", "[model]") {
  auto model = Model::load(test::context(), test::tiny_model_folder("decode"), f32_weights());
  const int64_t V = model->info().vocab_size;
  auto tokens = test::random_tokens(45, static_cast<int32_t>(V), 7);
  auto full = model->forward(tokens, RetentionForm::Parallel);
  const size_t N = 29;  // not a multiple of the chunk size (16)
  Session session(model);
  auto logits = session.prefill(std::vector<int32_t>(tokens.begin(), tokens.begin() + N));
  CHECK(test::max_rel_error(logits, row(full, V, N - 1)) < kModelTolerance);
  for (size_t t = N; t < tokens.size(); ++t) {
    logits = session.decode(tokens[t]);
    INFO("position " << t);
    CHECK(test::max_rel_error(logits, row(full, V, t)) < kModelTolerance);
  }
  CHECK(session.position() == static_cast<int64_t>(tokens.size()));
}

TEST_CASE("decode through the persistent decode layer equals the CPU reference model", "[model][decode_layer]") {
  // One workgroup anywhere (lavapipe runs a few at once); the device's own count where it has one.
  std::vector<int64_t> counts = {1};
  if (kernels::decode_layer_workgroups(test::context()) > 1) counts.push_back(0);
  for (int64_t workgroups : counts) {
    CAPTURE(workgroups);
    LoadOptions o = f32_weights();
    o.decode_workgroups = workgroups;
    auto model = Model::load(test::context(), test::tiny_model_folder("persistent"), o);
    if (model->impl().decode_layer_workgroups() == 0) {
      CHECK_FALSE(test::context().active_paths().subgroups);  // the only reason the tiny model cannot use it
      return;
    }
    const int64_t V = model->info().vocab_size;
    auto tokens = test::random_tokens(24, static_cast<int32_t>(V), 17);
    auto cpu = reference::model_forward(test::tiny_model_config(), test::tiny_model_weights(), tokens);
    Session session(model);
    session.prefill(std::vector<int32_t>(tokens.begin(), tokens.begin() + 5));
    for (size_t t = 5; t < tokens.size(); ++t) {
      INFO("position " << t);
      CHECK(test::max_rel_error(session.decode(tokens[t]), row(cpu, V, t)) < kModelTolerance);
    }
    CHECK(model->impl().decode_layer_workgroups() != 0);  // no sync ever timed out
  }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("a decode step whose persistent layer times out is redone without it", "[model][decode_layer]") {
  auto model = tiny_model_on_one_decode_workgroup("timeout");
  if (!model) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  const int64_t V = model->info().vocab_size;
  auto tokens = test::random_tokens(16, static_cast<int32_t>(V), 18);
  auto cpu = reference::model_forward(test::tiny_model_config(), test::tiny_model_weights(), tokens);
  Session session(model);
  session.prefill({tokens[0], tokens[1], tokens[2]});
  for (size_t t = 3; t < tokens.size(); ++t) {
    // From position 8 every sync waits for a workgroup that never comes: the step gives up
    // (after a bounded wait), the state is rebuilt from the history, the step redone.
    if (t == 8) model->impl().set_decode_sync_shortfall(1);
    INFO("position " << t);
    CHECK(test::max_rel_error(session.decode(tokens[t]), row(cpu, V, t)) < kModelTolerance);
    CHECK((model->impl().decode_layer_workgroups() == 0) == (t >= 8));
  }
  CHECK(session.position() == static_cast<int64_t>(tokens.size()));
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("a timed-out decode step of a session without its full history is a clear error",
          "[model][decode_layer][errors]") {
  auto model = tiny_model_on_one_decode_workgroup("timeout-history");
  if (!model) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  // A saved state whose history was left out (the format allows fewer tokens than the position).
  auto path = std::filesystem::temp_directory_path() / ("retnet-test-no-history-" + std::to_string(::getpid()) + ".state");
  Session a(model);
  a.prefill(test::random_tokens(6, static_cast<int32_t>(model->info().vocab_size), 19));
  a.save_state(path.string());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const int64_t no_history = 0;
    f.seekp(8 + 5 * 8);  // the header's history length
    f.write(reinterpret_cast<const char*>(&no_history), sizeof no_history);
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 6 * 4);
  Session b(model);
  b.load_state(path.string());
  std::filesystem::remove(path);
  model->impl().set_decode_sync_shortfall(1);
  CHECK_THROWS_WITH(b.decode(1), Catch::Contains("cannot be rebuilt"));
  CHECK(model->impl().decode_layer_workgroups() == 0);  // the model's later steps go without it
  CHECK_NOTHROW(a.decode(1));
  // b's state is half-updated: refused until reset.
  CHECK_THROWS_WITH(b.decode(1), Catch::Contains("state was lost"));
  CHECK_THROWS_WITH(b.prefill({1, 2}), Catch::Contains("state was lost"));
  CHECK_THROWS_WITH(b.save_state(path.string()), Catch::Contains("state was lost"));
  CHECK_THROWS_WITH(Session::decode_batch({&a, &b}, {1, 1}), Catch::Contains("state was lost"));
  b.reset();
  CHECK_NOTHROW(b.prefill({1, 2}));
}

TEST_CASE("a replayed decode step stays right when another session grows the scratch", "[model]") {
  // Session a's decode step is recorded once and replayed; b's long prefill then reallocates
  // the scratch activations that recording used, so a must record again, not replay stale buffers.
  auto model = Model::load(test::context(), test::tiny_model_folder("replay"), f32_weights());
  const int64_t V = model->info().vocab_size;
  auto tokens = test::random_tokens(12, static_cast<int32_t>(V), 3);
  auto full = model->forward(tokens, RetentionForm::Parallel);
  Session a(model), b(model);
  a.prefill({tokens[0], tokens[1], tokens[2]});
  for (size_t t = 3; t < tokens.size(); ++t) {
    if (t == 6) b.prefill(test::random_tokens(300, static_cast<int32_t>(V), 4));  // larger than any step so far
    if (t == 8) b.decode(5);  // b's own recording in between
    INFO("position " << t);
    CHECK(test::max_rel_error(a.decode(tokens[t]), row(full, V, t)) < kModelTolerance);
  }
}

TEST_CASE("a long prompt prefilled in pieces equals one pass", "[model]") {
  auto folder = test::tiny_model_folder("pieces");
  LoadOptions o = f32_weights();
  o.max_prefill_tokens = 10;
  auto model = Model::load(test::context(), folder, o);
  const int64_t V = model->info().vocab_size;
  auto tokens = test::random_tokens(33, static_cast<int32_t>(V), 8);
  Session session(model);
  auto logits = session.prefill(tokens);
  CHECK(test::max_rel_error(logits, last_row(model->forward(tokens, RetentionForm::Parallel), V)) < kModelTolerance);

  // Later prompts replay the recorded piece of 10 tokens, here the second piece of the first
  // and the only one of the second; in between, longer steps of the model (its scratch
  // activations grow) make the recording stale.
  Session other(model);
  for (auto [count, seed] : {std::pair{20, 9}, {10, 10}}) {
    auto more = test::random_tokens(count, static_cast<int32_t>(V), seed);
    auto got = session.prefill(more);
    tokens.insert(tokens.end(), more.begin(), more.end());
    CAPTURE(tokens.size());
    CHECK(test::max_rel_error(got, last_row(model->forward(tokens, RetentionForm::Parallel), V)) < kModelTolerance);
    other.prefill(test::random_tokens(70, static_cast<int32_t>(V), 11));
  }
  CHECK(session.position() == 33 + 20 + 10);
}

TEST_CASE("batched decode equals separate decodes", "[model]") {
  auto model = Model::load(test::context(), test::tiny_model_folder("batch"), f32_weights());
  const int32_t V = static_cast<int32_t>(model->info().vocab_size);
  std::vector<std::vector<int32_t>> prompts = {test::random_tokens(5, V, 1), test::random_tokens(12, V, 2),
                                               test::random_tokens(1, V, 3)};
  std::vector<Session> batched, single;
  for (auto& p : prompts) {
    batched.emplace_back(model);
    single.emplace_back(model);
    batched.back().prefill(p);
    single.back().prefill(p);
  }
  for (int step = 0; step < 3; ++step) {
    std::vector<int32_t> next = test::random_tokens(3, V, 100 + step);
    auto out = Session::decode_batch({&batched[0], &batched[1], &batched[2]}, next);
    REQUIRE(out.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(test::max_rel_error(out[i], single[i].decode(next[i])) < 1e-5);
  }
  CHECK(batched[1].position() == 15);
  CHECK_THROWS_AS(Session::decode_batch({&batched[0], &batched[0]}, {1, 2}), Error);
  CHECK_THROWS_AS(Session::decode_batch({&batched[0]}, {1, 2}), Error);
}

namespace {
// Session::decode_batch's recordings against twins decoded alone, across replays, reorders, a
// larger batch, a longer step of the model and a replaced session.
void check_batched_decode_replays(bool state_copies) {
  auto model = Model::load(test::context(), test::tiny_model_folder("batch-replay"), f32_weights());
  if (state_copies) model->impl().force_batch_state_copies();
  const int32_t V = static_cast<int32_t>(model->info().vocab_size);
  // Each batched session has a twin decoded alone: the batched logits must be the twin's.
  std::vector<std::unique_ptr<Session>> batched, twins;
  auto add = [&](int seed) {
    auto prompt = test::random_tokens(3 + seed, V, seed);
    for (auto* list : {&batched, &twins}) {
      list->push_back(std::make_unique<Session>(model));
      list->back()->prefill(prompt);
    }
  };
  for (int seed = 1; seed <= 3; ++seed) add(seed);
  int call = 0;
  auto step = [&](const std::vector<size_t>& which) {
    std::vector<Session*> sessions;
    for (size_t i : which) sessions.push_back(batched[i].get());
    const auto next = test::random_tokens(static_cast<int64_t>(which.size()), V, 500 + call++);
    const auto out = Session::decode_batch(sessions, next);
    REQUIRE(out.size() == which.size());
    for (size_t j = 0; j < which.size(); ++j) {
      CAPTURE(state_copies, call, j);
      CHECK(test::max_rel_error(out[j], twins[which[j]]->decode(next[j])) < 1e-5);
    }
  };
  step({0, 1});
  step({0, 1});                   // replayed
  step({1, 0});                   // another order: recorded again
  step({0, 1, 2});                // a larger batch (with copies, the batch states grow)
  step({0, 1});                   // recorded again
  step({2});                      // one session: its own decode step (Session::decode)
  twins[2]->prefill(test::random_tokens(40, V, 77));  // a longer step: the activations grow
  batched[2]->prefill(test::random_tokens(40, V, 77));
  step({0, 1});
  step({2, 1});
  batched.erase(batched.begin());  // a session of the recording goes away; a new one comes
  twins.erase(twins.begin());
  add(9);
  step({2, 0});
  step({2, 0});
  CHECK(batched[0]->position() == 5 + 9);  // the second session: its prompt, then 9 of the 11 steps
}
}  // namespace

TEST_CASE("a recorded batched decode step is replayed only for its sessions", "[model]") {
  SECTION("each session's states updated where they are") { check_batched_decode_replays(false); }
  SECTION("the states copied into a batch and back") { check_batched_decode_replays(true); }
}

TEST_CASE("batched decode of many sessions of an f16 model equals separate decodes", "[model]") {
  // More than 8 sessions: the products leave the few-row kernel for the many-row ones.
  auto model = Model::load(test::context(), test::tiny_model_folder("batch-f16"));
  const int32_t V = static_cast<int32_t>(model->info().vocab_size);
  constexpr int kSessions = 12;
  std::vector<Session> batched, single;
  for (int i = 0; i < kSessions; ++i) {
    auto prompt = test::random_tokens(2 + i, V, 40 + i);
    batched.emplace_back(model);
    single.emplace_back(model);
    batched.back().prefill(prompt);
    single.back().prefill(prompt);
  }
  std::vector<Session*> all;
  for (auto& b : batched) all.push_back(&b);
  // Tensor cores round each product's input to f16, which a single session's decode keeps f32.
  const double tolerance = test::context().active_paths().coopmat ? 2e-3 : 1e-5;
  for (int step = 0; step < 2; ++step) {
    auto next = test::random_tokens(kSessions, V, 300 + step);
    auto out = Session::decode_batch(all, next);
    for (int i = 0; i < kSessions; ++i) {
      CAPTURE(step, i);
      CHECK(test::max_rel_error(out[i], single[i].decode(next[i])) < tolerance);
    }
  }
}

TEST_CASE("a session state saved to a file resumes exactly", "[model]") {
  auto model = Model::load(test::context(), test::tiny_model_folder("state"), f32_weights());
  const int32_t V = static_cast<int32_t>(model->info().vocab_size);
  auto path = std::filesystem::temp_directory_path() / ("retnet-test-session-" + std::to_string(::getpid()) + ".state");
  Session a(model);
  a.prefill(test::random_tokens(21, V, 9));
  a.save_state(path.string());
  auto expected = a.decode(3);
  Session b(model);
  b.load_state(path.string());
  CHECK(b.position() == 21);
  CHECK(test::max_rel_error(b.decode(3), expected) == 0.0);
  // A truncated snapshot is refused, never half-loaded.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  CHECK_THROWS_WITH(b.load_state(path.string()), Catch::Contains("truncated"));
  std::filesystem::remove(path);
}

TEST_CASE("a saved model loads back with the same logits", "[model]") {
  auto model = Model::load(test::context(), test::tiny_model_folder("save"), f32_weights());
  auto out = std::filesystem::temp_directory_path() / ("retnet-test-saved-model-" + std::to_string(::getpid()));
  std::filesystem::remove_all(out);
  model->save(out.string());
  auto again = Model::load(test::context(), out.string(), f32_weights());
  auto tokens = test::random_tokens(9, static_cast<int32_t>(model->info().vocab_size), 10);
  CHECK(test::max_rel_error(again->forward(tokens), model->forward(tokens)) == 0.0);
  std::filesystem::remove_all(out);
}

TEST_CASE("bad model input gives a clear error", "[model][errors]") {
  auto folder = test::tiny_model_folder("bad");
  auto model = Model::load(test::context(), folder, f32_weights());
  Session session(model);
  const int32_t V = static_cast<int32_t>(model->info().vocab_size);
  CHECK_THROWS_WITH(session.prefill({}), Catch::Contains("empty prompt"));
  CHECK_THROWS_WITH(session.prefill({1, V}), Catch::Contains(std::to_string(V)));
  CHECK_THROWS_AS(session.decode(-1), Error);
  CHECK(session.position() == 0);  // nothing half-done

  SECTION("missing folder") {
    CHECK_THROWS_WITH(Model::load(test::context(), folder + "-nope"), Catch::Contains("does not exist"));
  }
  SECTION("truncated safetensors") {
    auto copy = test::tiny_model_folder("truncated");
    auto file = std::filesystem::path(copy) / "model.safetensors";
    std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
    CHECK_THROWS_AS(Model::load(test::context(), copy), Error);
  }
  SECTION("a missing tensor") {
    auto copy = test::tiny_model_folder("missing", /*drop=*/"model.layers.1.mlp.up_proj.weight");
    CHECK_THROWS_WITH(Model::load(test::context(), copy), Catch::Contains("model.layers.1.mlp.up_proj.weight"));
  }
  SECTION("a config that does not match the weights") {
    auto copy = test::tiny_model_folder("shape");
    auto config = nlohmann::json::parse(std::ifstream(std::filesystem::path(copy) / "config.json"));
    config["hidden_size"] = 40;
    std::ofstream(std::filesystem::path(copy) / "config.json") << config.dump();
    CHECK_THROWS_WITH(Model::load(test::context(), copy), Catch::Contains("shape"));
  }
}

TEST_CASE("generation streams text and the same seed gives the same text", "[model]") {
  auto model = Model::load(test::context(), test::tiny_model_folder("generate"), f32_weights());
  auto run = [&](uint64_t seed, std::string* streamed) {
    Session session(model);
    GenerateOptions go;
    go.max_new_tokens = 24;
    go.sampling.seed = seed;
    go.sampling.temperature = 1.0f;
    go.on_text = [&](const std::string& piece) {
      *streamed += piece;
      return true;
    };
    GenerationStats stats;
    std::string text = generate(session, "Hello", go, &stats);
    CHECK(stats.prompt_tokens == 5);
    CHECK(stats.generated_tokens <= 24);
    CHECK(session.position() == 5 + stats.generated_tokens);  // every emitted token went through the model
    return text;
  };
  std::string s1, s2, s3;
  auto a = run(7, &s1), b = run(7, &s2), c = run(8, &s3);
  CHECK(a == s1);  // what was streamed is what was returned
  CHECK(a == b);
  CHECK(a != c);
  Session session(model);
  CHECK_THROWS_WITH(generate(session, "", GenerateOptions{}), Catch::Contains("empty prompt"));
  GenerateOptions bad;
  bad.sampling.top_p = 0.0f;
  CHECK_THROWS_AS(generate(session, "x", bad), Error);
}
