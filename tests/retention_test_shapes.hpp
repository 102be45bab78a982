#pragma once
// Sizes, tensor shapes and a description of a reference::RetentionShape, shared by the
// retention forward and backward tests, and their tolerance check.
#include <string>
#include <vector>

#include "reference/retention.hpp"
#include "test_support.hpp"

namespace test {

// q, k [N, T, H, dk]; v, o [N, T, H, dv]; state [N, H, dk, dv].
inline size_t qk_size(const retnet::reference::RetentionShape& s) { return size_t(s.n * s.t * s.h * s.dk); }
inline size_t vo_size(const retnet::reference::RetentionShape& s) { return size_t(s.n * s.t * s.h * s.dv); }
inline size_t state_size(const retnet::reference::RetentionShape& s) { return size_t(s.n * s.h * s.dk * s.dv); }
inline std::vector<int64_t> qk_shape(const retnet::reference::RetentionShape& s) { return {s.n, s.t, s.h, s.dk}; }
inline std::vector<int64_t> vo_shape(const retnet::reference::RetentionShape& s) { return {s.n, s.t, s.h, s.dv}; }
inline std::vector<int64_t> state_shape(const retnet::reference::RetentionShape& s) {
  return {s.n, s.h, s.dk, s.dv};
}

inline std::string describe(const retnet::reference::RetentionShape& s) {
  return "N=" + std::to_string(s.n) + " T=" + std::to_string(s.t) + " H=" + std::to_string(s.h) +
         " dk=" + std::to_string(s.dk) + " dv=" + std::to_string(s.dv);
}

}  // namespace test

// Checks max_rel_error(actual, expected) < tolerance, reporting the error on failure.
#define CHECK_CLOSE(actual, expected, tolerance)                 \
  do {                                                           \
    const double error_ = test::max_rel_error(actual, expected); \
    INFO("max_rel_error " << error_);                            \
    CHECK(error_ < (tolerance));                                 \
  } while (0)
