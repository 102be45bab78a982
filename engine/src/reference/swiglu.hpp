#pragma once
#include <cstdint>
#include <vector>

// Plain C++ references for the gated MLP of a RetNet block (double accumulation), row-major.
namespace retnet::reference {

// swish(gate) * up elementwise.
std::vector<float> swiglu(const std::vector<float>& gate, const std::vector<float>& up);

// The whole MLP: (swish(m Wgate^T) * (m Wup^T)) Wdown^T for m [rows, D], w_gate and w_up
// [I, D], w_down [D, I] (nn.Linear layout); returns [rows, D]. The intermediate is kept in
// double, so this is the exact answer up to the final rounding.
std::vector<float> feed_forward(const std::vector<float>& m, const std::vector<float>& w_gate,
                                const std::vector<float>& w_up, const std::vector<float>& w_down, int64_t rows,
                                int64_t D, int64_t I);

}  // namespace retnet::reference
