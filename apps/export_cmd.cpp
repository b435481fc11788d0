#include "apps/export_cmd.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/checkpoint_file.hpp"
#include "common/hash.hpp"
#include "kernels/model.hpp"
#include "ops/export.hpp"
#include "trust/cert.hpp"

namespace hydra::apps {
namespace {

struct export_options {
  std::string state, checkpoint, model, optimizer, format, out;
};

/// What DIR/result.json says of the job; empty strings where it is silent.
struct job_info {
  std::string model, optimizer, mode, weights_hash;
  double test_accuracy = -1;
};

result<job_info> read_result(const std::string& dir) {
  job_info j;
  if (dir.empty()) return j;
  const std::string path = dir + "/result.json";
  auto text = trust::read_small_file(path, 1 << 20);
  if (!text) return text.err().code == errc::not_found ? result<job_info>(j) : result<job_info>(text.err());
  const auto doc = nlohmann::json::parse(text->begin(), text->end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return make_error(errc::invalid_input, path + ": not a JSON object");
  auto str = [&](const char* k) { return doc.contains(k) && doc[k].is_string() ? doc[k].get<std::string>() : ""; };
  j.model = str("model");
  j.optimizer = str("optimizer");
  j.mode = str("mode");
  j.weights_hash = str("weights_hash");
  if (doc.contains("test_accuracy") && doc["test_accuracy"].is_number())
    j.test_accuracy = doc["test_accuracy"].get<double>();
  return j;
}

// The checkpoint payload is the trainer's job_state (actors/dist_trainer.cpp,
// job_state::save; keep in step): u64 step, u64 inner optimizer steps, u64
// outer steps; the standardisation (2 floats: one input channel); the P
// parameters; the inner optimizer's state (sgd: none, or P floats with
// momentum; adam: 2P); in local mode the outer optimizer's state (Nesterov
// sgd: P, none without momentum) and the anchor weights (P).
constexpr std::size_t head_bytes = 3 * sizeof(std::uint64_t), norm_floats = 2;

struct job_kind {
  std::string model, optimizer, mode;
  std::size_t bytes;  ///< of the payload
  std::string label;  ///< for messages: "mlp/sgd+momentum/sync"
};

/// Every job whose checkpoint could be meant; an empty filter matches all.
std::vector<job_kind> job_kinds(const std::string& model, const std::string& optimizer, const std::string& mode) {
  std::vector<job_kind> out;
  for (const auto& name : kernels::model::names()) {
    const auto p = ops::param_count(name);
    if (!p || (!model.empty() && model != name)) continue;
    const std::size_t base = head_bytes + 4 * (norm_floats + *p);
    for (const std::string opt : {"sgd", "adam"}) {
      if (!optimizer.empty() && optimizer != opt) continue;
      for (const std::string md : {"sync", "local"}) {
        if (!mode.empty() && mode != md) continue;
        for (std::size_t inner : opt == "sgd" ? std::vector<std::size_t>{0, 1} : std::vector<std::size_t>{2})
          for (std::size_t outer : md == "local" ? std::vector<std::size_t>{1, 2} : std::vector<std::size_t>{0})
            out.push_back({name, opt, md, base + 4 * *p * (inner + outer),
                           name + "/" + opt + (opt == "sgd" && inner ? "+momentum" : "") + "/" + md +
                               (outer == 2 ? "+momentum" : "")});
      }
    }
  }
  return out;
}

std::string describe(const std::vector<job_kind>& kinds) {
  std::string s;
  for (auto& k : kinds) s += (s.empty() ? "" : ", ") + k.label + " " + std::to_string(k.bytes);
  return s;
}

/// The payload of checkpoint `path`, for one of `kinds` (`kind` says which).
result<std::vector<std::byte>> read_job_state(const std::string& path, const std::vector<job_kind>& kinds,
                                              job_kind& kind) {
  std::size_t largest = 0;
  for (auto& k : kinds) largest = std::max(largest, k.bytes);
  auto file = trust::read_small_file(path, checkpoint_header_bytes + largest);
  if (!file && file.err().code == errc::invalid_input)
    return make_error(errc::invalid_input, path + ": larger than the checkpoint of any job it could be (" +
                                               describe(kinds) + " bytes of state)");
  if (!file) return file.err();
  const auto bytes = std::as_bytes(std::span(*file));
  if (file->size() < 16 || std::memcmp(file->data(), "HYDRACK1", 8) != 0)
    return decode_checkpoint(bytes, 0, path);  // its message: not a checkpoint, or truncated
  std::uint64_t declared = 0;
  for (int i = 0; i < 8; ++i) declared |= std::uint64_t((*file)[8 + static_cast<std::size_t>(i)]) << (8 * i);
  for (auto& k : kinds)
    if (k.bytes == declared) {
      kind = k;
      return decode_checkpoint(bytes, declared, path);
    }
  return make_error(errc::invalid_input, path + ": holds " + std::to_string(declared) +
                                             " bytes of job state, which fits no job it could be (" + describe(kinds) +
                                             "); check --model and --optimizer");
}

std::string default_checkpoint_hint(const std::string& state) {
  std::error_code ec;
  if (std::filesystem::exists(state + "/checkpoint.bin", ec))
    return " (the job has not finished; pass --checkpoint " + state + "/checkpoint.bin to export where it stands)";
  return " (no finished `hydra node --train` job in " + state + ")";
}

/// The model a job state holds (its standardisation and weights), and its step.
result<std::unique_ptr<kernels::model>> model_of(const job_kind& kind, const std::vector<std::byte>& payload,
                                                 kernels::context& ctx, std::uint64_t& step) {
  auto made = kernels::model::make(kind.model, ctx);
  if (!made) return made.err();
  auto norm = (*made)->standardization_state();
  auto params = (*made)->params();
  if (norm.size() != norm_floats || head_bytes + norm.size_bytes() + params.size_bytes() > payload.size())
    return make_error(errc::internal, "the checkpoint layout no longer matches the " + kind.model + " model");
  std::memcpy(&step, payload.data(), sizeof step);
  std::memcpy(norm.data(), payload.data() + head_bytes, norm.size_bytes());
  std::memcpy(params.data(), payload.data() + head_bytes + norm.size_bytes(), params.size_bytes());
  return made;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "hydra export: error: %s\n", msg.c_str());
  return 1;
}

int run_export(const export_options& o) {
  if (o.state.empty() && o.checkpoint.empty()) return fail("give --state DIR or --checkpoint FILE");
  const std::string path = o.checkpoint.empty() ? o.state + "/checkpoint.bin.done" : o.checkpoint;
  auto info = read_result(o.state);
  if (!info) return fail(info.err().message);
  const std::string model = o.model.empty() ? info->model : o.model;
  const std::string optimizer = o.optimizer.empty() ? info->optimizer : o.optimizer;
  const auto kinds = job_kinds(model, optimizer, info->mode);
  if (kinds.empty())
    return fail("no job is a '" + model + "' model with '" + optimizer + "' in '" + info->mode + "' mode");

  job_kind kind;
  auto payload = read_job_state(path, kinds, kind);
  if (!payload) {
    if (payload.err().code != errc::not_found) return fail(payload.err().message);
    return fail(path + ": no checkpoint" + (o.checkpoint.empty() ? default_checkpoint_hint(o.state) : ""));
  }
  kernels::context ctx(1);
  std::uint64_t step = 0;
  auto made = model_of(kind, *payload, ctx, step);
  if (!made) return fail(made.err().message);
  kernels::model& m = **made;
  auto norm = m.standardization_state();
  auto params = m.params();

  auto bytes = o.format == "onnx" ? ops::to_onnx(m) : ops::to_safetensors(m);
  if (!bytes) return fail(path + ": " + bytes.err().message);
  if (auto st = trust::write_file_atomic(o.out, *bytes, 0644); !st) return fail(st.err().message);

  const bool matches = !info->weights_hash.empty() && info->weights_hash == hash_floats(m.params());
  // Without result.json some jobs share a size (adam/sync = sgd/local+momentum): name them all.
  std::string job;
  for (auto& k : kinds)
    if (k.bytes == kind.bytes) job += (job.empty() ? "" : " or ") + k.label;
  std::printf("%s: %s job at step %llu, %zu parameters, input mean %.4f std %.4f -> %s (%s, %zu bytes)\n", path.c_str(),
              job.c_str(), static_cast<unsigned long long>(step), params.size(), norm[0], 1.0 / norm[1], o.out.c_str(),
              o.format.c_str(), bytes->size());
  if (matches)
    std::printf("weights match %s/result.json (test accuracy %.4f)\n", o.state.c_str(), info->test_accuracy);
  else if (!info->weights_hash.empty() && o.checkpoint.empty())
    std::fprintf(stderr, "hydra export: warning: the weights differ from %s/result.json's weights_hash\n",
                 o.state.c_str());
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<export_options>();
  auto* cmd = app.add_subcommand("export", "Write a node's trained model as ONNX or safetensors");
  cmd->footer(
      "The model takes raw pixels in [0, 1] (N x 1 x 28 x 28) and gives 10 logits: the input standardisation "
      "is part of it (ONNX: Sub and Mul nodes before the first layer; safetensors: the tensors input.mean and "
      "input.inv_std, dropped before a strict load_state_dict). Tensors are named fc1.weight, fc1.bias, ... "
      "(mlp) and conv1.*, conv2.*, fc1.*, fc2.* (cnn), as PyTorch names them. Nothing is written on error.");
  cmd->add_option("--state", o->state,
                  "State directory of a `hydra node --train` job (its checkpoint.bin.done and result.json)");
  cmd->add_option("--checkpoint", o->checkpoint, "Checkpoint to export (default: STATE/checkpoint.bin.done)");
  cmd->add_option("--model", o->model, "Model of the job (default: from result.json, else the checkpoint's size)")
      ->check(CLI::IsMember(kernels::model::names()));
  cmd->add_option("--optimizer", o->optimizer, "Optimizer of the job (default: from result.json, else any)")
      ->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--format", o->format, "Output format")->required()->check(CLI::IsMember({"onnx", "safetensors"}));
  cmd->add_option("--out", o->out, "File to write (replaced atomically)")->required();
  cmd->callback([o, &exit_code] { exit_code = run_export(*o); });
}

}  // namespace hydra::apps
