#pragma once
// The loss history of a run: appended each step, written as CSV and drawn as an SVG chart.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace retnet::train {

struct LossPoint {
  int64_t step = 0;
  double train_loss = 0;
  std::optional<double> validation_loss;
  double learning_rate = 0;
  double tokens_per_s = 0;
};

void write_loss_csv(const std::string& path, const std::vector<LossPoint>& points);
// Training loss (and validation loss where measured) against step, in nats per token.
void write_loss_svg(const std::string& path, const std::vector<LossPoint>& points, const std::string& title);

}  // namespace retnet::train
