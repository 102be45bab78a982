#pragma once
// Checkpoints that survive a crash at any moment: each is written completely into a
// temporary folder, every file fsynced, then swapped in by renames. A reader finds the newest
// complete one ("checkpoint", else "checkpoint.previous" if the swap itself was interrupted).
#include <functional>
#include <string>

namespace retnet::train {

// Writes a checkpoint under `out_dir`: `write(folder)` fills a fresh temporary folder, which
// then replaces out_dir/checkpoint. Leftovers of an interrupted earlier write are removed.
void write_checkpoint(const std::string& out_dir, const std::function<void(const std::string&)>& write);

// The newest complete checkpoint folder under `out_dir`, or "" if there is none.
std::string find_checkpoint(const std::string& out_dir);

}  // namespace retnet::train
