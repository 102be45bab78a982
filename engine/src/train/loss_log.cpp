#include "train/loss_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "model/atomic_file.hpp"

namespace retnet::train {

void write_loss_csv(const std::string& path, const std::vector<LossPoint>& points) {
  std::string csv = "step,train_loss,validation_loss,learning_rate,tokens_per_s\n";
  for (const auto& p : points)
    csv += fmt::format("{},{:.6f},{},{:.6g},{:.1f}\n", p.step, p.train_loss,
                       p.validation_loss ? fmt::format("{:.6f}", *p.validation_loss) : "", p.learning_rate,
                       p.tokens_per_s);
  model::write_file_atomically(path, csv);
}

void write_loss_svg(const std::string& path, const std::vector<LossPoint>& points, const std::string& title) {
  const double W = 720, H = 420, left = 60, right = 20, top = 40, bottom = 50;
  double max_step = 1, lo = INFINITY, hi = -INFINITY;
  for (const auto& p : points) {
    max_step = std::max<double>(max_step, p.step);
    for (double v : {p.train_loss, p.validation_loss.value_or(p.train_loss)}) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!(hi > lo)) {
    lo = std::isfinite(lo) ? lo - 1 : 0;
    hi = lo + 2;
  }
  auto x = [&](double step) { return left + (W - left - right) * step / max_step; };
  auto y = [&](double v) { return top + (H - top - bottom) * (hi - v) / (hi - lo); };
  std::string train_path, val_path;
  for (const auto& p : points) {
    train_path += fmt::format("{}{:.1f},{:.1f} ", train_path.empty() ? "M" : "L", x(p.step), y(p.train_loss));
    if (p.validation_loss)
      val_path += fmt::format("{}{:.1f},{:.1f} ", val_path.empty() ? "M" : "L", x(p.step), y(*p.validation_loss));
  }
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{cx}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n"
      "<line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\n"
      "<line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"black\"/>\n"
      "<text x=\"{cx}\" y=\"{H2}\" text-anchor=\"middle\">step (of {max:.0f})</text>\n"
      "<text x=\"14\" y=\"{cy}\" transform=\"rotate(-90 14 {cy})\" text-anchor=\"middle\">loss (nats/token)</text>\n"
      "<text x=\"{l2}\" y=\"{t}\" text-anchor=\"end\">{hi:.3f}</text>\n"
      "<text x=\"{l2}\" y=\"{b}\" text-anchor=\"end\">{lo:.3f}</text>\n"
      "<path d=\"{train}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n"
      "<path d=\"{val}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
      "<text x=\"{lx}\" y=\"{ly1}\" fill=\"#1f77b4\">training</text>\n"
      "<text x=\"{lx}\" y=\"{ly2}\" fill=\"#d62728\">validation</text>\n"
      "</svg>\n",
      fmt::arg("W", W), fmt::arg("H", H), fmt::arg("cx", W / 2), fmt::arg("title", title), fmt::arg("l", left),
      fmt::arg("r", W - right), fmt::arg("t", top), fmt::arg("b", H - bottom), fmt::arg("H2", H - 12),
      fmt::arg("max", max_step), fmt::arg("cy", H / 2), fmt::arg("l2", left - 4), fmt::arg("hi", hi),
      fmt::arg("lo", lo), fmt::arg("train", train_path), fmt::arg("val", val_path), fmt::arg("lx", W - right - 80),
      fmt::arg("ly1", top + 14), fmt::arg("ly2", top + 30));
  model::write_file_atomically(path, svg);
}

}  // namespace retnet::train
