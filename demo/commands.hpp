#pragma once
// The subcommands of the `retnet` program, one file each.
namespace demo {
int run_devices();
}  // namespace demo
