#pragma once
/// `hydra train`: one node trains a model on an IDX dataset.

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace hydra::apps {

struct train_options {
  std::string model = "mlp";
  int epochs = 1;
  int batch = 64;
  float lr = 0;  ///< 0 = the optimizer's default (sgd 0.1, adam 0.001)
  std::string optimizer = "sgd";
  float momentum = 0;
  float weight_decay = 0;
  int threads = 0;  ///< 0 = every core
  std::uint64_t seed = 1;
  std::string data;  ///< empty = Fashion-MNIST from Debian's package
  std::size_t limit = 0;  ///< use only the first N training samples (0 = all)
  bool standardize = true;  ///< (x - mean) / std of the training set before the first layer
  bool json = false;
  bool quiet = false;
};

/// Registers the `train` subcommand; its callback runs the training and sets
/// `exit_code`.
CLI::App* add_train_command(CLI::App& app, train_options& opts, int& exit_code);

/// Runs a training job; returns the process exit code (0 = success).
int run_train(const train_options& opts);

}  // namespace hydra::apps
