// Training end to end: the GPU gradients of a whole model against the CPU reference model
// (itself checked by finite differences), a tiny model learning a task, exact resume, and
// checkpoints that survive a kill.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "model/parameter_names.hpp"
#include "reference/cross_entropy.hpp"
#include "reference/model.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"
#include "retnet/train.hpp"
#include "test_support.hpp"
#include "tiny_model.hpp"
#include "train/checkpoint_dir.hpp"
#include "train/trainable_model.hpp"

using namespace retnet;
namespace fs = std::filesystem;

namespace {

model::ModelConfig small_config(int64_t vocab, bool tied) {
  return model::ModelConfig::from_json({{"model_type", "retnet"}, {"hidden_size", 24}, {"num_hidden_layers", 2},
                                        {"num_heads", 2}, {"vocab_size", vocab}, {"intermediate_size", 40},
                                        {"tie_word_embeddings", tied}});
}

reference::WeightsOf<double> as_double(const train::HostWeights& w) {
  reference::WeightsOf<double> out;
  for (const auto& [name, values] : w) out[name] = test::to_double(values);
  return out;
}

// Every parameter's accumulated GPU gradient against the reference's, within `tolerance` of
// that gradient's scale.
void check_gradients(const train::TrainableModel& net, const model::ModelConfig& config,
                     const reference::WeightsOf<double>& expected, double tolerance) {
  const auto grads = net.download(&train::Parameter::grad);
  for (const auto& spec : model::expected_parameters(config)) {
    INFO(spec.name);
    CHECK(test::max_rel_error(test::to_double(grads.at(spec.name)), expected.at(spec.name)) < tolerance);
  }
}

fs::path scratch_dir(const std::string& tag) {
  auto p = fs::temp_directory_path() / fmt::format("retnet-train-{}-{}", tag, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

}  // namespace

TEST_CASE("reference model gradients match finite differences", "[reference][training]") {
  const auto config = small_config(11, true);
  const auto weights = as_double(train::initial_weights(config, 3, 0.3));
  const int64_t N = 2, T = 5;
  const auto inputs = test::random_tokens(N * T, 11, 4);
  auto targets = test::random_tokens(N * T, 11, 5);
  targets[3] = -100;  // ignored
  reference::WeightsOf<double> grads;
  reference::model_loss(config, weights, inputs, targets, N, T, 0.1, &grads);
  // A few elements of every parameter by central differences (h = 1e-5, double): the
  // analytic gradient must agree to 1e-6 of that parameter's gradient scale.
  std::mt19937 rng(7);
  for (const auto& [name, values] : weights) {
    const auto& g = grads.at(name);
    double scale = 0;
    for (double v : g) scale = std::max(scale, std::abs(v));
    for (int i = 0; i < 3; ++i) {
      const size_t at = rng() % values.size();
      auto perturbed = weights;
      auto loss_at = [&](double delta) {
        perturbed[name][at] = values[at] + delta;
        return reference::model_loss<double>(config, perturbed, inputs, targets, N, T, 0.1, nullptr);
      };
      const double numeric = (loss_at(1e-5) - loss_at(-1e-5)) / 2e-5;
      INFO(fmt::format("{}[{}]: analytic {} numeric {}", name, at, g[at], numeric));
      CHECK(std::abs(g[at] - numeric) <= 1e-6 * scale + 1e-10);
    }
  }
}

TEST_CASE("GPU gradients of a whole model match the CPU reference model", "[kernel][training]") {
  for (bool tied : {false, true}) {
    INFO(fmt::format("tied embeddings {}", tied));
    const auto config = small_config(37, tied);
    const auto weights = train::initial_weights(config, 9, 0.2);
    const int64_t N = 2, T = 21, chunk = 8;  // several chunks, the last one partial
    const auto inputs = test::random_tokens(N * T, 37, 1);
    auto targets = test::random_tokens(N * T, 37, 2);
    targets[5] = -100;
    const double scale = 1.0 / double(N * T);
    reference::WeightsOf<double> expected;
    const double expected_loss =
        reference::model_loss(config, as_double(weights), inputs, targets, N, T, scale, &expected);

    train::TrainableModel net(test::context(), config, weights, false, chunk);
    // Whole batch at once with every logit row in one chunk; then as two accumulated
    // micro-batches of one sequence each with the loss head walking 5-row chunks of logits.
    for (bool split : {false, true}) {
      INFO(fmt::format("two micro-batches and chunked logits {}", split));
      if (split) net.set_logit_chunk_bytes(5 * 4 * config.vocab_size);
      gpu::Stream s(test::context());
      net.record_zero_grads(s);
      double loss = 0;
      for (int64_t part = 0; part < (split ? N : 1); ++part) {
        const int64_t n = split ? 1 : N, first = part * T;
        std::vector<float> losses;
        net.record(s, {inputs.begin() + first, inputs.begin() + first + n * T},
                   {targets.begin() + first, targets.begin() + first + n * T}, n, T, float(scale), true, &losses);
        s.submit();
        for (float l : losses) loss += l * scale;
      }
      CHECK(std::abs(loss - expected_loss) < 1e-5 * std::abs(expected_loss));
      check_gradients(net, config, expected, 1e-4);  // f32 on the GPU through 2 layers against double
    }
  }
}

TEST_CASE("a training step recorded once and replayed equals steps recorded each time", "[kernel][training]") {
  // Two micro-batches per step, a learning rate that changes every step, and in between an
  // evaluation of another shape (which reallocates what the recording uses: the replay must
  // record again). The same kernels in the same order: the same bits.
  const auto config = small_config(37, false);
  const auto weights = train::initial_weights(config, 4, 0.2);
  const int64_t M = 2, N = 2, T = 19, chunk = 8;
  const float scale = 1.0f / float(M * N * T);
  kernels::AdamWSettings settings;
  settings.weight_decay = 0.1f;
  train::TrainableModel each(test::context(), config, weights, true, chunk);
  train::TrainableModel replayed(test::context(), config, weights, true, chunk);
  gpu::Stream s_each(test::context()), s_replayed(test::context());
  replayed.record_step(s_replayed, M, N, T, scale, settings);
  for (int64_t step = 1; step <= 3; ++step) {
    INFO("step " << step);
    const auto inputs = test::random_tokens(M * N * T, 37, uint32_t(10 * step));
    const auto targets = test::random_tokens(M * N * T, 37, uint32_t(10 * step + 1));
    settings.lr = 1e-2f / float(step);
    std::vector<float> expected, losses;
    each.record_zero_grads(s_each);
    for (int64_t m = 0; m < M; ++m) {
      std::vector<float> part;
      each.record(s_each, {inputs.begin() + m * N * T, inputs.begin() + (m + 1) * N * T},
                  {targets.begin() + m * N * T, targets.begin() + (m + 1) * N * T}, N, T, scale, true, &part);
      if (m + 1 == M) each.record_optimizer_step(s_each, settings, step);
      s_each.submit();
      expected.insert(expected.end(), part.begin(), part.end());
    }
    replayed.run_recorded_step(s_replayed, inputs, targets, settings.lr, step, &losses);
    CHECK(losses == expected);
    for (auto which : {&train::Parameter::value, &train::Parameter::m, &train::Parameter::v})
      CHECK(replayed.download(which) == each.download(which));
    if (step == 1) {  // an evaluation of one sequence
      gpu::Stream eval(test::context());
      std::vector<float> eval_losses;
      replayed.record(eval, {inputs.begin(), inputs.begin() + T}, {targets.begin(), targets.begin() + T}, 1, T, 1.0f,
                      false, &eval_losses);
      eval.submit();
      CHECK(eval_losses.size() == size_t(T));
    }
  }
  // Bad input is an error before anything runs, and the recording still works after it.
  std::vector<int32_t> inputs(M * N * T, 1), targets(M * N * T, 2);
  CHECK_THROWS_WITH(replayed.run_recorded_step(s_each, inputs, targets, 1e-3f, 4, nullptr),
                    Catch::Contains("holds no step recorded"));
  CHECK_THROWS_WITH(replayed.run_recorded_step(s_replayed, {1, 2}, {2, 3}, 1e-3f, 4, nullptr),
                    Catch::Contains("was given 2 inputs"));
  inputs[7] = 37;
  CHECK_THROWS_WITH(replayed.run_recorded_step(s_replayed, inputs, targets, 1e-3f, 4, nullptr),
                    Catch::Contains("token id 37 at position 7"));
  CHECK_THROWS_WITH(replayed.run_recorded_step(s_replayed, targets, targets, 1e-3f, 0, nullptr),
                    Catch::Contains("step must count from 1"));
  CHECK_THROWS_WITH(replayed.record_step(s_each, 0, N, T, scale, settings), Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(replayed.record_step(s_replayed, M, N, T, scale, settings), Catch::Contains("reset() it first"));
  gpu::Stream busy(test::context());  // commands recorded before would be replayed with every step
  each.record_zero_grads(busy);
  CHECK_THROWS_WITH(each.record_step(busy, M, N, T, scale, settings), Catch::Contains("reset() it first"));
  busy.reset();
  inputs[7] = 3;
  std::vector<float> losses;
  replayed.run_recorded_step(s_replayed, inputs, targets, 1e-3f, 4, &losses);
  CHECK(losses.size() == size_t(M * N * T));
  CHECK(std::isfinite(losses[0]));
}

TEST_CASE("GPU gradients in mixed precision stay near the CPU reference model", "[kernel][training]") {
  // f16 weight copies in the forward (and, with tensor cores, f16 operands scaled into range
  // in every backward product); the master weights, sums and gradients stay f32.
  const auto config = small_config(37, false);
  const auto weights = train::initial_weights(config, 9, 0.2);
  const int64_t N = 2, T = 150, chunk = 64;  // 300 rows: whole 128-row tiles on tensor cores
  const auto inputs = test::random_tokens(N * T, 37, 3);
  const auto targets = test::random_tokens(N * T, 37, 4);
  // A loss scale of 1e-9 makes every gradient far smaller than f16's smallest number: only
  // operands scaled by their true maxima (reduced, or left by the kernels that wrote them)
  // keep them.
  for (double factor : {1.0, 1e-9}) {
    INFO("loss scale factor " << factor);
    const double scale = factor / double(N * T);
    reference::WeightsOf<double> expected;
    const double expected_loss =
        reference::model_loss(config, as_double(weights), inputs, targets, N, T, scale, &expected);
    train::TrainableModel net(test::context(), config, weights, true, chunk);
    gpu::Stream s(test::context());
    net.record_zero_grads(s);
    std::vector<float> losses;
    net.record(s, inputs, targets, N, T, float(scale), true, &losses);
    s.submit();
    double loss = 0;
    for (float l : losses) loss += l * scale;
    CHECK(std::abs(loss - expected_loss) < 1e-3 * std::abs(expected_loss));
    // f16's 11 bits per operand through 2 layers: measured at most 4.2e-3 of a gradient's scale
    // on lavapipe (f16 forward only) and 5.9e-3 on the H100 (tensor cores both ways).
    check_gradients(net, config, expected, 1e-2);
  }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("a tiny model learns to copy a sequence", "[kernel][training]") {
  // Sequences "x1..x6 = x1..x6": the second half is predictable only by recalling the first.
  const int64_t L = 6, T = 2 * L + 1, N = 16, vocab = 12, sep = 11;
  const auto config = model::ModelConfig::from_json({{"model_type", "retnet"}, {"hidden_size", 64},
                                                      {"num_hidden_layers", 2}, {"num_heads", 2},
                                                      {"vocab_size", vocab}, {"intermediate_size", 128}});
  train::TrainableModel net(test::context(), config, train::initial_weights(config, 1), true, 16);
  std::mt19937 rng(5);
  auto make_batch = [&](std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
    inputs.assign(N * T, 0);
    targets.assign(N * T, -100);
    for (int64_t n = 0; n < N; ++n) {
      int32_t* x = &inputs[n * T];
      for (int64_t i = 0; i < L; ++i) x[i] = x[L + 1 + i] = int32_t(rng() % (vocab - 1));
      x[L] = sep;
      for (int64_t i = L; i < T - 1; ++i) targets[n * T + i] = x[i + 1];  // after "=": the copy
    }
  };
  kernels::AdamWSettings settings;
  settings.lr = 3e-3f;
  settings.weight_decay = 0.0f;
  double loss = 0;
  gpu::Stream s(test::context());
  std::vector<int32_t> inputs, targets;
  const int64_t counted = N * L;
  for (int64_t step = 1; step <= 400; ++step) {
    make_batch(inputs, targets);
    std::vector<float> losses;
    net.record_zero_grads(s);
    net.record(s, inputs, targets, N, T, 1.0f / float(counted), true, &losses);
    net.record_optimizer_step(s, settings, step);
    s.submit();
    loss = 0;
    for (float l : losses) loss += l / double(counted);
    if (step % 50 == 0) INFO(fmt::format("step {} loss {}", step, loss));
    if (loss < 0.02) break;
  }
  INFO(fmt::format("final loss {} (chance: {})", loss, std::log(double(vocab - 1))));
  CHECK(loss < 0.05);
}

TEST_CASE("training resumed from a checkpoint equals an uninterrupted run", "[kernel][training]") {
  const auto dir = scratch_dir("resume");
  {
    std::ofstream data(dir / "text.txt");
    for (int i = 0; i < 300; ++i) data << "the quick brown fox " << i << " jumps over the lazy dog.\n";
  }
  TrainOptions o;
  o.data = (dir / "text.txt").string();
  o.config = R"({"hidden_size": 32, "num_hidden_layers": 2, "num_heads": 2, "intermediate_size": 64})";
  o.steps = 6;
  o.seq_len = 24;
  o.batch = 3;
  o.grad_accum = 2;
  o.eval_every = 3;
  o.eval_batches = 2;
  o.checkpoint_every = 3;
  o.lr = 3e-3;
  auto run = [&](TrainOptions opts, std::vector<double>& losses) {
    return run_training(test::context(), opts, [&](const TrainProgress& p) { losses.push_back(p.loss); });
  };
  std::vector<double> whole, first, second;
  o.out = (dir / "whole").string();
  const auto full = run(o, whole);
  REQUIRE(whole.size() == 6);
  CHECK(whole.back() < whole.front());

  o.out = (dir / "split").string();
  // Interrupted after step 3 (as by Ctrl-C): the step's checkpoint is written before it stops.
  int steps_done = 0;
  o.should_stop = [&] { return ++steps_done == 3; };
  run(o, first);
  REQUIRE(first.size() == 3);
  o.should_stop = nullptr;
  // Killed (SIGKILL, no unwinding) while writing the next checkpoint: the previous one stays.
  const pid_t child = fork();
  if (child == 0) {
    train::write_checkpoint(o.out, [](const std::string& folder) {
      std::ofstream(fs::path(folder) / "model.safetensors") << "torn";
      ::kill(::getpid(), SIGKILL);
    });
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  const auto kept = train::find_checkpoint(o.out);
  CHECK(Model::load(test::context(), kept)->info().num_layers == 2);  // loadable, not torn

  o.resume = true;
  const auto resumed = run(o, second);
  REQUIRE(second.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(first[i] == whole[i]);
    CHECK(second[i] == whole[3 + i]);  // bit for bit
  }
  REQUIRE(resumed.validation_loss);
  CHECK(*resumed.validation_loss == *full.validation_loss);
  CHECK(fs::exists(dir / "split" / "loss.svg"));
  CHECK(fs::exists(dir / "split" / "model" / "model.safetensors"));
  // Starting over in a folder that holds a checkpoint without --resume is refused.
  o.resume = false;
  CHECK_THROWS_WITH(run(o, second), Catch::Contains("--resume"));
  fs::remove_all(dir);
}

TEST_CASE("fine-tuning starts from the given model", "[kernel][training]") {
  const auto dir = scratch_dir("init");
  { std::ofstream(dir / "text.txt") << std::string(2000, 'a') << "bc"; }
  TrainOptions o;
  o.data = (dir / "text.txt").string();
  o.init = test::tiny_model_folder("init");
  o.out = (dir / "out").string();
  o.steps = 3;
  o.seq_len = 16;
  o.batch = 2;
  o.eval_every = 3;
  o.eval_batches = 1;
  o.lr = 1e-4;
  // Step 1 of a fine-tune starts from the given weights: its loss equals the loaded model's
  // cross-entropy on that batch, computed by the CPU reference model.
  std::vector<double> losses;
  run_training(test::context(), o, [&](const TrainProgress& p) { losses.push_back(p.loss); });
  REQUIRE(losses.size() == 3);
  const auto logits = reference::model_forward(test::tiny_model_config(), test::tiny_model_weights(),
                                               std::vector<int32_t>(16, 'a'));
  // Every window of this text is "aaaa...", so the first loss is the reference's loss on it.
  const auto token_losses = reference::cross_entropy(logits, std::vector<int32_t>(16, 'a'),
                                                     test::tiny_model_config().vocab_size);
  double expected = 0;
  for (float l : token_losses) expected += l / 16.0;
  CHECK(std::abs(losses[0] - expected) < 2e-3);  // f16 forward copies where the device has fp16
  CHECK(Model::load(test::context(), (dir / "out" / "model").string())->info().num_layers == 2);
  fs::remove_all(dir);
}

TEST_CASE("bad training input gives a clear error", "[kernel][training][errors]") {
  const auto dir = scratch_dir("bad");
  TrainOptions o;
  o.config = R"({"hidden_size": 16, "num_hidden_layers": 1, "num_heads": 1})";
  o.out = (dir / "out").string();
  o.steps = 2;
  std::ofstream(dir / "empty.txt").close();
  fs::create_directories(dir / "no_text");
  { std::ofstream(dir / "no_text" / "blob.bin") << std::string("\0\1\2", 3); }
  { std::ofstream(dir / "short.txt") << "only a few words of text here"; }
  o.data = (dir / "empty.txt").string();
  CHECK_THROWS_AS(run_training(test::context(), o), Error);
  o.data = (dir / "no_text").string();
  CHECK_THROWS_AS(run_training(test::context(), o), Error);
  o.data = (dir / "short.txt").string();
  o.seq_len = 4096;
  CHECK_THROWS_WITH(run_training(test::context(), o), Catch::Contains("4096"));
  o.data = (dir / "missing.txt").string();
  CHECK_THROWS_WITH(run_training(test::context(), o), Catch::Contains("missing.txt"));
  o.data = (dir / "short.txt").string();
  o.seq_len = 8;
  o.config = "{not json";
  CHECK_THROWS_AS(run_training(test::context(), o), Error);
  fs::remove_all(dir);
}
