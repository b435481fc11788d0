// ONNX through libprotobuf and the onnx.proto classes Debian ships
// generated (libonnx-dev: onnx/onnx_pb.h, libonnx_proto), so the file is
// whatever protobuf itself writes; safetensors (a length, a JSON header and
// raw tensors) by hand with nlohmann::json.

#include "ops/export.hpp"

#include <onnx/onnx_pb.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "kernels/model.hpp"

namespace hydra::ops {
namespace {

constexpr int channels = 1, height = 28, width = 28, classes = 10;
constexpr int onnx_opset = 13;

/// One layer of an architecture, as kernels::model::make builds it.
struct layer_spec {
  enum class kind { dense, conv, pool, flatten } what;
  std::string name;  ///< tensor name prefix ("fc1"); empty without parameters
  int in = 0, out = 0, k = 0, pad = 0;
  bool relu = false;

  std::vector<std::int64_t> weight_shape() const {
    if (what == kind::dense) return {out, in};
    if (what == kind::conv) return {out, in, k, k};
    return {};
  }
  std::size_t weights() const {
    std::size_t n = weight_shape().empty() ? 0 : 1;
    for (auto d : weight_shape()) n *= static_cast<std::size_t>(d);
    return n;
  }
  std::size_t biases() const { return weight_shape().empty() ? 0 : static_cast<std::size_t>(out); }
  /// What kernels' layer::describe() says of the same layer.
  std::string describe() const {
    const std::string r = relu ? " relu" : "";
    const std::string io = std::to_string(in) + "->" + std::to_string(out);
    switch (what) {
      case kind::dense:
        return "dense " + io + r;
      case kind::conv:
        return "conv" + std::to_string(k) + "x" + std::to_string(k) + " " + io + r;
      case kind::pool:
        return "maxpool " + std::to_string(k) + "x" + std::to_string(k);
      case kind::flatten:
        return "flatten";
    }
    return "";
  }
};

/// Keep in step with kernels::model::make (the model overloads check it).
result<std::vector<layer_spec>> architecture(const std::string& name) {
  using k = layer_spec::kind;
  if (name == "mlp")
    return std::vector<layer_spec>{{k::dense, "fc1", 784, 256, 0, 0, true},
                                   {k::dense, "fc2", 256, 128, 0, 0, true},
                                   {k::dense, "fc3", 128, classes, 0, 0, false}};
  if (name == "cnn")
    return std::vector<layer_spec>{{k::conv, "conv1", channels, 32, 5, 2, true},
                                   {k::pool, "", 0, 0, 2},
                                   {k::conv, "conv2", 32, 64, 5, 2, true},
                                   {k::pool, "", 0, 0, 2},
                                   {k::flatten, ""},
                                   {k::dense, "fc1", 64 * 7 * 7, 1024, 0, 0, true},
                                   {k::dense, "fc2", 1024, classes, 0, 0, false}};
  return make_error(errc::invalid_input, "cannot export model '" + name + "' (choose mlp or cnn)");
}

std::size_t total_params(const std::vector<layer_spec>& arch) {
  std::size_t n = 0;
  for (auto& l : arch) n += l.weights() + l.biases();
  return n;
}

std::string exact(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

/// The architecture of `m`, after checking every value the formats carry.
result<std::vector<layer_spec>> checked(const model_view& m) {
  auto arch = architecture(m.name);
  if (!arch) return arch.err();
  if (const std::size_t want = total_params(*arch); m.params.size() != want)
    return make_error(errc::invalid_input,
                      m.name + " has " + std::to_string(want) + " parameters, got " + std::to_string(m.params.size()));
  if (m.standardization.size() != 2 * channels)
    return make_error(errc::invalid_input, "the standardisation needs " + std::to_string(2 * channels) +
                                               " values (means, inverse stds), got " +
                                               std::to_string(m.standardization.size()));
  for (int c = 0; c < channels; ++c) {
    const float mean = m.standardization[c], inv = m.standardization[channels + c];
    if (!std::isfinite(mean) || !std::isfinite(inv) || !(inv > 0))
      return make_error(errc::invalid_input, "standardisation of channel " + std::to_string(c) + ": mean " +
                                                 exact(mean) + ", inverse std " + exact(inv) +
                                                 " (must be finite, the inverse std > 0)");
  }
  for (std::size_t i = 0; i < m.params.size(); ++i)
    if (!std::isfinite(m.params[i]))
      return make_error(errc::invalid_input, m.name + ": parameter " + std::to_string(i) + " is not finite");
  return arch;
}

/// `m`'s layers must be the ones `architecture` describes.
result<model_view> view_of(const kernels::model& m) {
  auto arch = architecture(m.name());
  if (!arch) return arch.err();
  const kernels::dims3 in = m.input_dims();
  if (in != kernels::dims3{channels, height, width} || m.classes() != classes)
    return make_error(errc::invalid_input, m.name() + ": only 1 x 28 x 28 inputs and 10 classes can be exported");
  if (m.layers().size() != arch->size())
    return make_error(errc::internal, m.name() + ": the model has " + std::to_string(m.layers().size()) +
                                          " layers, the exporter knows " + std::to_string(arch->size()));
  for (std::size_t i = 0; i < arch->size(); ++i) {
    const auto& have = *m.layers()[i];
    const auto& want = (*arch)[i];
    if (have.describe() != want.describe() || have.param_count() != want.weights() + want.biases())
      return make_error(errc::internal, m.name() + ": layer " + std::to_string(i) + " is '" + have.describe() +
                                            "', the exporter expects '" + want.describe() + "'");
  }
  return model_view{m.name(), m.params(), m.standardization_state()};
}

void put_f32_le(std::string& out, std::span<const float> v) {
  const std::size_t at = out.size();
  out.resize(at + 4 * v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto u = std::bit_cast<std::uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) out[at + 4 * i + b] = static_cast<char>(u >> (8 * b));
  }
}

// ---- ONNX ------------------------------------------------------------------

struct graph_builder {
  onnx::GraphProto& g;
  std::string x = "input";  ///< the tensor the next node reads
  int rank = 4;             ///< of `x`
  int serial = 0;

  void initializer(const std::string& name, const std::vector<std::int64_t>& dims, std::span<const float> v) {
    auto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    put_f32_le(*t->mutable_raw_data(), v);
  }
  /// Appends `op`(x, extra...) and makes its output the new `x`.
  onnx::NodeProto& node(const std::string& op, std::vector<std::string> extra = {}, std::string out = "") {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(serial));
    n->add_input(x);
    for (auto& e : extra) n->add_input(e);
    x = out.empty() ? op + "_" + std::to_string(serial) + "_out" : std::move(out);
    ++serial;
    n->add_output(x);
    return *n;
  }
  static void ints(onnx::NodeProto& n, const std::string& name, std::vector<std::int64_t> v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto i : v) a->add_ints(i);
  }
  static void integer(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void value_info(onnx::ValueInfoProto& vi, const std::string& name, const std::vector<std::int64_t>& dims) {
    vi.set_name(name);
    auto* tt = vi.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    shape->add_dim()->set_dim_param("N");
    for (auto d : dims) shape->add_dim()->set_dim_value(d);
  }
  void layer(const layer_spec& l, std::span<const float> w, std::span<const float> b) {
    using k = layer_spec::kind;
    if (!l.name.empty()) {
      initializer(l.name + ".weight", l.weight_shape(), w);
      initializer(l.name + ".bias", {l.out}, b);
    }
    if (l.what == k::dense) {
      if (rank != 2) flatten();
      integer(node("Gemm", {l.name + ".weight", l.name + ".bias"}), "transB", 1);
    } else if (l.what == k::conv) {
      auto& n = node("Conv", {l.name + ".weight", l.name + ".bias"});
      ints(n, "kernel_shape", {l.k, l.k});
      ints(n, "pads", {l.pad, l.pad, l.pad, l.pad});
      ints(n, "strides", {1, 1});
    } else if (l.what == k::pool) {
      auto& n = node("MaxPool");
      ints(n, "kernel_shape", {l.k, l.k});
      ints(n, "strides", {l.k, l.k});
    } else {
      flatten();
    }
    if (l.relu) node("Relu");
  }
  void flatten() {
    integer(node("Flatten"), "axis", 1);
    rank = 2;
  }
};

void metadata(onnx::ModelProto& mp, const std::string& key, const std::string& value) {
  auto* p = mp.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

}  // namespace

result<std::size_t> param_count(const std::string& name) {
  auto arch = architecture(name);
  if (!arch) return arch.err();
  return total_params(*arch);
}

result<std::vector<std::uint8_t>> to_onnx(const model_view& m) {
  auto arch = checked(m);
  if (!arch) return arch.err();
  onnx::ModelProto mp;
  mp.set_ir_version(onnx::IR_VERSION);
  mp.set_producer_name("hydra");
  mp.set_producer_version("0.1.0");
  mp.set_doc_string("Hydra " + m.name + ": raw pixels in [0, 1], N x 1 x 28 x 28 -> 10 logits");
  auto* opset = mp.add_opset_import();
  opset->set_domain("");
  opset->set_version(onnx_opset);
  metadata(mp, "hydra_model", m.name);
  metadata(mp, "input_mean", exact(m.standardization[0]));
  metadata(mp, "input_inv_std", exact(m.standardization[channels]));

  graph_builder gb{*mp.mutable_graph()};
  gb.g.set_name("hydra_" + m.name);
  gb.value_info(*gb.g.add_input(), "input", {channels, height, width});
  gb.initializer("input.mean", {1, channels, 1, 1}, m.standardization.first(channels));
  gb.initializer("input.inv_std", {1, channels, 1, 1}, m.standardization.subspan(channels, channels));
  gb.node("Sub", {"input.mean"}, "input_centered");
  gb.node("Mul", {"input.inv_std"}, "input_standardized");
  std::size_t off = 0;
  for (const auto& l : *arch) {
    gb.layer(l, m.params.subspan(off, l.weights()), m.params.subspan(off + l.weights(), l.biases()));
    off += l.weights() + l.biases();
  }
  gb.g.mutable_node(gb.g.node_size() - 1)->set_output(0, "logits");
  gb.value_info(*gb.g.add_output(), "logits", {classes});

  std::string bytes;
  if (!mp.SerializeToString(&bytes)) return make_error(errc::internal, "protobuf could not serialize the ONNX model");
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

result<std::vector<std::uint8_t>> to_onnx(const kernels::model& m) {
  auto v = view_of(m);
  if (!v) return v.err();
  return to_onnx(*v);
}

result<std::vector<std::uint8_t>> to_safetensors(const model_view& m) {
  auto arch = checked(m);
  if (!arch) return arch.err();
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  auto tensor = [&](const std::string& name, std::vector<std::int64_t> shape, std::span<const float> v) {
    const std::size_t begin = data.size();
    put_f32_le(data, v);
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  };
  std::size_t off = 0;
  for (const auto& l : *arch) {
    if (l.name.empty()) continue;
    tensor(l.name + ".weight", l.weight_shape(), m.params.subspan(off, l.weights()));
    tensor(l.name + ".bias", {l.out}, m.params.subspan(off + l.weights(), l.biases()));
    off += l.weights() + l.biases();
  }
  tensor("input.mean", {channels}, m.standardization.first(channels));
  tensor("input.inv_std", {channels}, m.standardization.subspan(channels, channels));
  header["__metadata__"] = {{"format", "pt"},
                            {"hydra_model", m.name},
                            {"input", "N x 1 x 28 x 28 pixels in [0, 1]; x' = (x - input.mean[c]) * input.inv_std[c]"},
                            {"input_mean", exact(m.standardization[0])},
                            {"input_inv_std", exact(m.standardization[channels])}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::uint8_t> out;
  out.reserve(8 + text.size() + data.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(std::uint64_t(text.size()) >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

result<std::vector<std::uint8_t>> to_safetensors(const kernels::model& m) {
  auto v = view_of(m);
  if (!v) return v.err();
  return to_safetensors(*v);
}

}  // namespace hydra::ops
