#pragma once
/// `hydra export`: take a trained model out of a node's state folder.
///   export --state DIR [--checkpoint FILE] [--model mlp|cnn] [--optimizer sgd|adam]
///          --format onnx|safetensors --out FILE
/// Reads the job's final checkpoint (default DIR/checkpoint.bin.done, which
/// `hydra node --train` leaves), checks its frame and checksum, finds the
/// model and the input standardisation in it and writes them as ONNX or
/// safetensors (ops/export.hpp). The model, optimizer and mode come from
/// the flags, else from DIR/result.json, else from the checkpoint's size;
/// a checkpoint that fits none of them is refused. The output is written
/// atomically (temporary file, fsync, rename): on any error nothing is
/// written and the exit code is 1.

#include <CLI/CLI.hpp>

namespace hydra::apps {

/// Registers `export`; its run sets `exit_code`.
void add_export_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
