// `retnet`: the command-line front end of retnet-vk.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "demo/commands.hpp"
#include "retnet/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"retnet: run and train RetNet models on any Vulkan GPU"};
  app.require_subcommand(1);
  auto* devices = app.add_subcommand("devices", "List Vulkan devices and the features retnet uses");

  std::string selftest_device;
  auto* selftest = app.add_subcommand("selftest", "Run retention in its three forms on a device and check they agree");
  selftest->add_option("--device", selftest_device, "Device index or part of its name");

  demo::GenerateArgs gen;
  auto* generate = app.add_subcommand("generate", "Generate text from a prompt, streaming tokens as they come");
  generate->add_option("-p,--prompt", gen.prompt, "The prompt")->required();
  demo::add_generation_options(generate, gen);

  demo::GenerateArgs chat;
  auto* chat_cmd = app.add_subcommand("chat", "Interactive generation that keeps the session between turns");
  demo::add_generation_options(chat_cmd, chat);

  demo::TrainArgs train;
  auto* train_cmd = app.add_subcommand("train", "Train a model (or fine-tune one with --init) on text");
  demo::add_train_options(train_cmd, train);

  std::string convert_in, convert_out, convert_device;
  auto* convert = app.add_subcommand("convert", "Rewrite a model folder with f16 weights (half the size)");
  convert->add_option("-m,--model", convert_in, "Model folder to read")->required();
  convert->add_option("-o,--out", convert_out, "Folder to write")->required();
  convert->add_option("--device", convert_device, "Device index or part of its name");

  CLI11_PARSE(app, argc, argv);
  try {
    if (devices->parsed()) return demo::run_devices();
    if (selftest->parsed()) return demo::run_selftest(selftest_device);
    if (generate->parsed()) return demo::run_generate(gen);
    if (chat_cmd->parsed()) return demo::run_chat(chat);
    if (train_cmd->parsed()) return demo::run_train(train);
    if (convert->parsed()) return demo::run_convert(convert_in, convert_out, convert_device);
  } catch (const retnet::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
