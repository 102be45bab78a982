// Training checkpoints are never lost: an interrupted write leaves the previous one loadable.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "retnet/error.hpp"
#include "train/checkpoint_dir.hpp"

namespace fs = std::filesystem;
using retnet::train::find_checkpoint;
using retnet::train::write_checkpoint;

namespace {
std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("a checkpoint write replaces the previous one whole", "[train]") {
  auto out = fs::temp_directory_path() / ("retnet-ckdir-" + std::to_string(::getpid()));
  fs::remove_all(out);
  CHECK(find_checkpoint(out.string()).empty());
  write_checkpoint(out.string(), [](const std::string& d) { std::ofstream(fs::path(d) / "state.txt") << "step 1"; });
  REQUIRE(!find_checkpoint(out.string()).empty());
  CHECK(read(fs::path(find_checkpoint(out.string())) / "state.txt") == "step 1");

  // Killed while writing step 2 (the writer throws midway): step 1 is still what loads.
  CHECK_THROWS(write_checkpoint(out.string(), [](const std::string& d) {
    std::ofstream(fs::path(d) / "state.txt") << "step 2 (torn";
    throw retnet::Error("killed");
  }));
  CHECK(read(fs::path(find_checkpoint(out.string())) / "state.txt") == "step 1");

  // Killed between the two renames of the swap: the previous one is found under its other name.
  fs::rename(out / "checkpoint", out / "checkpoint.previous");
  CHECK(read(fs::path(find_checkpoint(out.string())) / "state.txt") == "step 1");

  write_checkpoint(out.string(), [](const std::string& d) { std::ofstream(fs::path(d) / "state.txt") << "step 3"; });
  CHECK(read(fs::path(find_checkpoint(out.string())) / "state.txt") == "step 3");
  CHECK_FALSE(fs::exists(out / "checkpoint.partial"));
  fs::remove_all(out);
}
