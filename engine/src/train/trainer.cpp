// retnet::run_training(): the training loop around TrainableModel, with checkpoints that let a run
// be resumed exactly (weights, AdamW moments, step; the data order is a function of (seed, step)).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/atomic_file.hpp"
#include "model/config.hpp"
#include "model/parameter_names.hpp"
#include "model/safetensors.hpp"
#include "retnet/error.hpp"
#include "retnet/train.hpp"
#include "text/tokenizer.hpp"
#include "train/checkpoint_dir.hpp"
#include "train/dataset.hpp"
#include "train/loss_log.hpp"
#include "train/schedule.hpp"
#include "train/trainable_model.hpp"

namespace retnet {

namespace fs = std::filesystem;
using train::HostWeights;

namespace {

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

// config.json + model.safetensors (f32): a model folder the engine, fla and transformers load.
void write_model(const std::string& folder, const model::ModelConfig& config, const HostWeights& weights) {
  fs::create_directories(folder);
  std::vector<model::NamedTensor> tensors;
  for (const auto& spec : model::expected_parameters(config))
    tensors.push_back(model::f32_tensor(spec.name, spec.shape, weights.at(spec.name)));
  model::write_safetensors((fs::path(folder) / "model.safetensors").string(), tensors);
  config.save(folder);
}

template <class Reader>  // model::CheckpointReader or model::SafetensorsFile
HostWeights read_weights(const Reader& reader, const model::ModelConfig& config,
                         const std::string& suffix = "") {
  HostWeights w;
  for (const auto& spec : model::expected_parameters(config)) {
    const std::string name = spec.name + suffix;
    if (!reader.has(name)) throw Error(fmt::format("checkpoint lacks tensor {}", name));
    w[spec.name] = reader.read_f32(name);
  }
  return w;
}

// Fields of a run that a resume must share with it, or it would not continue the same run.
nlohmann::json run_identity(const TrainOptions& o) {
  return {{"steps", o.steps},   {"seq_len", o.seq_len}, {"batch", o.batch},
          {"grad_accum", o.grad_accum}, {"seed", o.seed}, {"lr", o.lr}, {"chunk_size", o.chunk_size}};
}

model::ModelConfig fresh_config(const std::string& text) {
  if (text.empty()) throw Error("training from scratch needs --config (a config.json path or JSON text), or --init MODEL");
  nlohmann::json j;
  if (fs::exists(text)) {
    std::ifstream in(text);
    try {
      j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw Error(fmt::format("config file '{}' is not valid JSON: {}", text, e.what()));
    }
  } else {
    try {
      j = nlohmann::json::parse(text);
    } catch (const std::exception&) {
      throw Error(fmt::format("--config '{}' is neither an existing file nor JSON text", text));
    }
  }
  if (!j.is_object()) throw Error("--config must be a JSON object");
  if (!j.contains("vocab_size")) j["vocab_size"] = text::ByteTokenizer::kVocabSize;
  if (!j.contains("model_type")) j["model_type"] = "retnet";
  return model::ModelConfig::from_json(j);
}

void require_positive(int64_t v, const char* what) {
  if (v < 1) throw Error(fmt::format("training: {} must be at least 1 (got {})", what, v));
}

}  // namespace

TrainResult run_training(Context& ctx, const TrainOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  require_positive(o.steps, "steps");
  require_positive(o.seq_len, "the sequence length");
  require_positive(o.batch, "the batch size");
  require_positive(o.grad_accum, "gradient accumulation");
  require_positive(o.eval_every, "eval_every");
  require_positive(o.checkpoint_every, "checkpoint_every");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw Error(fmt::format("training: learning rate {} must be > 0", o.lr));
  if (o.out.empty()) throw Error("training needs an output folder (--out)");
  fs::create_directories(o.out);

  // Where the weights come from: a checkpoint of this run, a model to fine-tune, or fresh ones.
  const std::string resume_from = o.resume ? train::find_checkpoint(o.out) : "";
  if (o.resume && resume_from.empty())
    throw Error(fmt::format("--resume: no complete checkpoint in '{}'", o.out));
  if (!o.resume && !train::find_checkpoint(o.out).empty())
    throw Error(fmt::format("'{}' already holds a checkpoint: pass --resume to continue it, or another --out", o.out));
  const std::string source = !resume_from.empty() ? resume_from : o.init;
  model::ModelConfig config = source.empty() ? fresh_config(o.config) : model::ModelConfig::load(source);
  std::unique_ptr<text::Tokenizer> tokenizer =
      source.empty() ? std::make_unique<text::ByteTokenizer>() : text::load_tokenizer(source, config.vocab_size);

  const auto dataset = train::TextDataset::load(o.data, *tokenizer, o.validation_fraction);
  dataset.check_sequence_length(o.seq_len);

  HostWeights weights;
  if (source.empty()) {
    weights = train::initial_weights(config, o.seed);
  } else {
    model::CheckpointReader reader(source);
    model::check_checkpoint(reader, config);
    weights = read_weights(reader, config);
  }
  train::TrainableModel net(ctx, config, weights, o.f16_forward, o.chunk_size);

  int64_t step = 0;
  std::vector<train::LossPoint> history;
  if (!resume_from.empty()) {
    std::ifstream in(fs::path(resume_from) / kStateFile);
    const auto state = nlohmann::json::parse(in);
    if (state.at("run") != run_identity(o))
      throw Error(fmt::format("--resume: the options differ from the run in '{}' ({} there, {} now)", resume_from,
                              state.at("run").dump(), run_identity(o).dump()));
    step = state.at("step").get<int64_t>();
    for (const auto& p : state.at("history")) {
      train::LossPoint lp;
      lp.step = p.at("step");
      lp.train_loss = p.at("loss");
      lp.learning_rate = p.at("lr");
      lp.tokens_per_s = p.at("tokens_per_s");
      if (p.contains("validation_loss")) lp.validation_loss = p.at("validation_loss").get<double>();
      history.push_back(lp);
    }
    const model::SafetensorsFile moments((fs::path(resume_from) / kOptimizerFile).string());
    net.upload(&train::Parameter::m, read_weights(moments, config, ".exp_avg"));
    net.upload(&train::Parameter::v, read_weights(moments, config, ".exp_avg_sq"));
  }

  const std::string title = fmt::format("RetNet {}x{} on {}", config.num_layers, config.hidden_size,
                                        fs::path(o.data).filename().string());
  auto write_logs = [&] {
    train::write_loss_csv((fs::path(o.out) / "loss.csv").string(), history);
    train::write_loss_svg((fs::path(o.out) / "loss.svg").string(), history, title);
  };
  auto save_checkpoint = [&] {
    const HostWeights values = net.download(&train::Parameter::value);
    const HostWeights m = net.download(&train::Parameter::m), v = net.download(&train::Parameter::v);
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& p : history) {
      nlohmann::json e = {{"step", p.step}, {"loss", p.train_loss}, {"lr", p.learning_rate},
                          {"tokens_per_s", p.tokens_per_s}};
      if (p.validation_loss) e["validation_loss"] = *p.validation_loss;
      hist.push_back(e);
    }
    const nlohmann::json state = {{"step", step}, {"run", run_identity(o)}, {"history", hist},
                                  {"data", o.data}, {"tokenizer", tokenizer->describe()}};
    train::write_checkpoint(o.out, [&](const std::string& folder) {
      write_model(folder, config, values);
      std::vector<model::NamedTensor> moments;
      for (const auto& spec : model::expected_parameters(config)) {
        moments.push_back(model::f32_tensor(spec.name + ".exp_avg", spec.shape, m.at(spec.name)));
        moments.push_back(model::f32_tensor(spec.name + ".exp_avg_sq", spec.shape, v.at(spec.name)));
      }
      model::write_safetensors((fs::path(folder) / kOptimizerFile).string(), moments);
      model::write_file_atomically((fs::path(folder) / kStateFile).string(), state.dump(1));
      if (!source.empty() && fs::exists(fs::path(source) / "tokenizer.model"))
        fs::copy_file(fs::path(source) / "tokenizer.model", fs::path(folder) / "tokenizer.model",
                      fs::copy_options::overwrite_existing);
    });
    write_logs();
  };

  const auto validation = dataset.validation_batches(o.batch, o.seq_len, o.eval_batches);
  auto validation_loss = [&]() -> double {
    double sum = 0;
    int64_t count = 0;
    for (const auto& b : validation) {
      std::vector<float> losses;
      gpu::Stream s(ctx);
      net.record(s, b.inputs, b.targets, b.batch, b.seq_len, 1.0f, false, &losses);
      s.submit();
      for (float l : losses) sum += l;
      count += int64_t(losses.size());
    }
    return count ? sum / double(count) : NAN;
  };

  const int64_t warmup = o.warmup >= 0 ? o.warmup : std::min<int64_t>(100, o.steps / 10);
  const double tokens_per_step = double(o.batch * o.seq_len * o.grad_accum);
  const float loss_scale = static_cast<float>(1.0 / tokens_per_step);
  TrainResult result;
  result.step = step;
  int64_t run_steps = 0;
  double elapsed = 0;
  // Every step is the same work on new batches: recorded once, replayed with each.
  gpu::Stream s(ctx);
  kernels::AdamWSettings recorded;
  recorded.beta1 = float(o.beta1);
  recorded.beta2 = float(o.beta2);
  recorded.eps = float(o.eps);
  recorded.weight_decay = float(o.weight_decay);
  recorded.max_grad_norm = float(o.max_grad_norm);
  net.record_step(s, o.grad_accum, o.batch, o.seq_len, loss_scale, recorded);
  std::vector<int32_t> inputs, targets;
  while (step < o.steps && (o.stop_after <= 0 || run_steps < o.stop_after)) {
    const auto start = std::chrono::steady_clock::now();
    ++step;
    ++run_steps;
    const float lr = static_cast<float>(train::learning_rate(step, warmup, o.steps, o.lr, o.min_lr_ratio));
    inputs.clear();
    targets.clear();
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      const auto batch = dataset.training_batch(o.seed, (step - 1) * o.grad_accum + micro, o.batch, o.seq_len);
      inputs.insert(inputs.end(), batch.inputs.begin(), batch.inputs.end());
      targets.insert(targets.end(), batch.targets.begin(), batch.targets.end());
    }
    std::vector<float> losses;
    net.run_recorded_step(s, inputs, targets, lr, step, &losses);
    double loss_sum = 0;
    for (float l : losses) loss_sum += l;
    const double loss = loss_sum / tokens_per_step;
    if (!std::isfinite(loss)) {
      const std::string kept = train::find_checkpoint(o.out);
      throw Error(fmt::format("training diverged: the loss is {} at step {}; {}", loss, step,
                              kept.empty() ? "no checkpoint was written yet" : "the last checkpoint is kept in " + kept));
    }
    elapsed += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    train::LossPoint point;
    point.step = step;
    point.train_loss = loss;
    point.learning_rate = lr;
    point.tokens_per_s = tokens_per_step * run_steps / elapsed;
    if (step % o.eval_every == 0 || step == o.steps) point.validation_loss = validation_loss();
    history.push_back(point);

    TrainProgress p;
    p.step = step;
    p.steps = o.steps;
    p.loss = loss;
    p.learning_rate = lr;
    p.tokens_per_s = point.tokens_per_s;
    p.eta_s = elapsed / double(run_steps) * double(o.steps - step);
    p.validation_loss = point.validation_loss;
    const bool interrupted = o.should_stop && o.should_stop();
    const bool stopping = step == o.steps || (o.stop_after > 0 && run_steps == o.stop_after) || interrupted;
    if (step % o.checkpoint_every == 0 || stopping) {
      save_checkpoint();
      p.checkpoint_written = true;
    }
    if (progress) progress(p);
    result.step = step;
    result.loss = loss;
    if (point.validation_loss) result.validation_loss = point.validation_loss;
    if (interrupted) break;
  }
  if (step == o.steps) write_model((fs::path(o.out) / "model").string(), config, net.download(&train::Parameter::value));
  write_logs();
  result.checkpoint = train::find_checkpoint(o.out);
  return result;
}

}  // namespace retnet
