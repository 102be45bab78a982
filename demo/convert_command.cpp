// `retnet convert`: rewrites a model folder with f16 weight matrices (norms stay f32), e.g. to
// ship a model trained in f32 at half the size. The result loads in fla/transformers too.
#include <fmt/format.h>

#include "demo/commands.hpp"

namespace demo {

int run_convert(const std::string& in, const std::string& out, const std::string& device) {
  auto options = retnet::ContextOptions::from_environment();
  if (!device.empty()) options.device = device;
  retnet::Context ctx(options);
  retnet::LoadOptions load;
  load.prefer_f16 = true;
  auto model = retnet::Model::load(ctx, in, load);
  if (model->info().weight_dtype != "f16")
    throw retnet::Error(fmt::format("device {} has no fp16 path: the weights would stay f32", ctx.device().name));
  model->save(out);
  fmt::print("wrote {} ({} parameters, f16 weights)\n", out, model->info().parameter_count);
  return report_validation(ctx);
}

}  // namespace demo
