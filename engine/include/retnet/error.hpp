#pragma once
#include <stdexcept>
#include <string>

namespace retnet {

// Every failure the engine reports (bad input, missing device feature, out of GPU memory,
// a Vulkan call that failed) is a retnet::Error whose message names the problem.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown when an allocation does not fit in GPU memory, so callers can react (smaller batch).
class OutOfMemoryError : public Error {
 public:
  explicit OutOfMemoryError(const std::string& message) : Error(message) {}
};

}  // namespace retnet
