// Training data and the learning-rate schedule (CPU side of the trainer).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "retnet/error.hpp"
#include "text/tokenizer.hpp"
#include "train/dataset.hpp"
#include "train/loss_log.hpp"
#include "train/schedule.hpp"

using namespace retnet;
namespace fs = std::filesystem;

namespace {
fs::path fresh(const std::string& name) {
  auto p = fs::temp_directory_path() / ("retnet-data-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
}  // namespace

TEST_CASE("a text folder is read in order without binary files or links", "[train]") {
  auto dir = fresh("folder");
  std::ofstream(dir / "b.txt") << "world ";
  std::ofstream(dir / "a.txt") << "hello ";
  { std::ofstream bin(dir / "a.dat", std::ios::binary); bin << std::string("x\0y", 3); }
  fs::create_symlink(dir / "a.txt", dir / "c.txt");
  std::ofstream(dir / "empty.txt") << "";
  text::ByteTokenizer tok;
  auto d = train::TextDataset::load(dir.string(), tok, 0.25);
  CHECK(d.file_count() == 2);
  std::string all;
  for (int32_t t : d.training_tokens()) all.push_back(static_cast<char>(t));
  for (int32_t t : d.validation_tokens()) all.push_back(static_cast<char>(t));
  CHECK(all == "hello world ");
  CHECK(d.validation_tokens().size() == 3);
  fs::remove_all(dir);
}

TEST_CASE("bad training data gives a clear error", "[train][errors]") {
  text::ByteTokenizer tok;
  auto dir = fresh("bad");
  CHECK_THROWS_WITH(train::TextDataset::load((dir / "missing").string(), tok), Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(train::TextDataset::load(dir.string(), tok), Catch::Contains("holds no text files"));
  std::ofstream(dir / "empty.txt") << "";
  CHECK_THROWS_WITH(train::TextDataset::load((dir / "empty.txt").string(), tok), Catch::Contains("empty"));
  std::ofstream(dir / "short.txt") << "just a few bytes of text here";
  auto d = train::TextDataset::load((dir / "short.txt").string(), tok, 0.5);
  CHECK_THROWS_WITH(d.check_sequence_length(64), Catch::Contains("too long for the data"));
  CHECK_NOTHROW(d.check_sequence_length(8));
  fs::remove_all(dir);
}

TEST_CASE("training batches depend only on seed and step", "[train]") {
  std::vector<int32_t> tokens(1000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i % 251);
  auto d = train::TextDataset::from_tokens(tokens, 0.1);
  auto a = d.training_batch(42, 7, 4, 16), b = d.training_batch(42, 7, 4, 16), c = d.training_batch(42, 8, 4, 16);
  CHECK(a.inputs == b.inputs);
  CHECK(a.inputs != c.inputs);
  REQUIRE(a.inputs.size() == 64);
  for (size_t i = 0; i < a.inputs.size(); ++i) CHECK(a.targets[i] == (a.inputs[i] + 1) % 251);
  auto val = d.validation_batches(3, 10, 100);
  REQUIRE(val.size() == 3);  // 100 validation tokens: 9 windows of 10 (+1 target), in batches of 3
  CHECK(val.back().batch == 3);
  CHECK(val[1].inputs[0] == d.validation_tokens()[30]);
  CHECK(val[1].targets[0] == d.validation_tokens()[31]);
}

TEST_CASE("the learning rate warms up linearly then decays along a cosine", "[train]") {
  CHECK(train::learning_rate(1, 10, 110, 1e-3) == Approx(1e-4));
  CHECK(train::learning_rate(10, 10, 110, 1e-3) == Approx(1e-3));
  CHECK(train::learning_rate(60, 10, 110, 1e-3, 0.1) == Approx(1e-3 * (0.1 + 0.9 * 0.5)));
  CHECK(train::learning_rate(110, 10, 110, 1e-3, 0.1) == Approx(1e-4));
  CHECK(train::learning_rate(500, 10, 110, 1e-3, 0.1) == Approx(1e-4));
}

TEST_CASE("the loss log is written as CSV and as an SVG chart", "[train]") {
  std::vector<train::LossPoint> points;
  for (int s = 1; s <= 20; ++s)
    points.push_back({s, 5.0 / s, s % 10 == 0 ? std::optional<double>(6.0 / s) : std::nullopt, 1e-3, 1000.0});
  auto dir = fresh("loss");
  train::write_loss_csv((dir / "loss.csv").string(), points);
  train::write_loss_svg((dir / "loss.svg").string(), points, "test run");
  std::ifstream csv(dir / "loss.csv");
  std::string header, first, tenth;
  std::getline(csv, header);
  std::getline(csv, first);
  for (int i = 2; i <= 10; ++i) std::getline(csv, tenth);
  CHECK(header == "step,train_loss,validation_loss,learning_rate,tokens_per_s");
  CHECK(first == "1,5.000000,,0.001,1000.0");
  CHECK(tenth == "10,0.500000,0.600000,0.001,1000.0");
  std::ifstream svg(dir / "loss.svg");
  std::string text((std::istreambuf_iterator<char>(svg)), {});
  CHECK_THAT(text, Catch::StartsWith("<svg"));
  CHECK_THAT(text, Catch::Contains("M92.0,"));  // step 1 of 20: 60 + 640 / 20 pixels from the left
  CHECK_THAT(text, Catch::Contains("test run"));
  fs::remove_all(dir);
}
