#include "train/checkpoint_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "retnet/error.hpp"

namespace retnet::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCurrent = "checkpoint";
constexpr const char* kPrevious = "checkpoint.previous";
constexpr const char* kTemporary = "checkpoint.partial";
constexpr const char* kCompleteMarker = "COMPLETE";  // written last: a folder without it is torn

void fsync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw Error(fmt::format("cannot open '{}' to flush it to disk", p.string()));
  int r = ::fsync(fd);
  ::close(fd);
  if (r != 0) throw Error(fmt::format("flushing '{}' to disk failed", p.string()));
}

bool complete(const fs::path& p) { return fs::exists(p / kCompleteMarker); }

}  // namespace

void write_checkpoint(const std::string& out_dir, const std::function<void(const std::string&)>& write) {
  fs::path out(out_dir), tmp = out / kTemporary, cur = out / kCurrent, prev = out / kPrevious;
  fs::create_directories(out);
  fs::remove_all(tmp);  // a torn write from an interrupted run
  fs::create_directories(tmp);
  write(tmp.string());
  { std::ofstream(tmp / kCompleteMarker) << "ok\n"; }
  for (const auto& e : fs::directory_iterator(tmp))
    if (e.is_regular_file()) fsync_path(e.path(), false);
  fsync_path(tmp, true);
  // Swap: the old checkpoint stays complete under another name until the new one is in place.
  if (complete(cur)) {
    fs::remove_all(prev);
    fs::rename(cur, prev);
  } else {
    fs::remove_all(cur);
  }
  fs::rename(tmp, cur);
  fsync_path(out, true);
  fs::remove_all(prev);
}

std::string find_checkpoint(const std::string& out_dir) {
  fs::path out(out_dir);
  for (const char* name : {kCurrent, kPrevious})
    if (complete(out / name)) return (out / name).string();
  return "";
}

}  // namespace retnet::train
