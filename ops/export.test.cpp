#include "ops/export.hpp"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/model.hpp"

namespace hydra::ops {
namespace {

/// A model_view with distinct, recognisable values.
struct fake_model {
  std::vector<float> params, norm{0.25f, 4.0f};
  model_view view(const std::string& name) const { return {name, params, norm}; }
  explicit fake_model(const std::string& name) {
    params.resize(*param_count(name));
    for (std::size_t i = 0; i < params.size(); ++i) params[i] = float(i % 1000) * 0.001f - 0.5f;
  }
};

std::vector<float> floats_at(const std::uint8_t* p, std::size_t n) {
  std::vector<float> v(n);
  std::memcpy(v.data(), p, 4 * n);  // the test machine is little endian
  return v;
}

onnx::ModelProto parse(const std::vector<std::uint8_t>& bytes) {
  onnx::ModelProto mp;
  EXPECT_TRUE(mp.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  return mp;
}

const onnx::TensorProto* initializer(const onnx::GraphProto& g, const std::string& name) {
  for (auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

TEST(Export, ParamCounts) {
  EXPECT_EQ(*param_count("mlp"), 784u * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(*param_count("cnn"), 32u * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 1024 * 10 + 10);
  EXPECT_FALSE(param_count("resnet"));
}

TEST(Export, SafetensorsHeaderDescribesEveryTensor) {
  fake_model f("mlp");
  auto st = to_safetensors(f.view("mlp"));
  ASSERT_TRUE(st) << st.err().message;
  const auto& b = *st;
  ASSERT_GE(b.size(), 8u);
  std::uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= std::uint64_t(b[i]) << (8 * i);
  EXPECT_EQ(len % 8, 0u);
  ASSERT_LE(8 + len, b.size());
  const auto header = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + static_cast<long>(len));
  const std::uint8_t* data = b.data() + 8 + len;
  EXPECT_EQ(b.size() - 8 - len, 4 * (f.params.size() + 2));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["__metadata__"]["hydra_model"], "mlp");
  const struct {
    const char* name;
    std::vector<std::int64_t> shape;
    std::size_t at;  // floats into params
  } want[] = {{"fc1.weight", {256, 784}, 0}, {"fc1.bias", {256}, 200704},       {"fc2.weight", {128, 256}, 200960},
              {"fc2.bias", {128}, 233728},   {"fc3.weight", {10, 128}, 233856}, {"fc3.bias", {10}, 235136}};
  for (auto& w : want) {
    SCOPED_TRACE(w.name);
    ASSERT_TRUE(header.contains(w.name));
    const auto& t = header[w.name];
    EXPECT_EQ(t["dtype"], "F32");
    EXPECT_EQ(t["shape"].get<std::vector<std::int64_t>>(), w.shape);
    const auto off = t["data_offsets"].get<std::vector<std::size_t>>();
    ASSERT_EQ(off.size(), 2u);
    std::size_t n = 1;
    for (auto d : w.shape) n *= static_cast<std::size_t>(d);
    EXPECT_EQ(off[1] - off[0], 4 * n);
    EXPECT_EQ(off[0], 4 * w.at);  // laid out in the model's order
    const auto v = floats_at(data + off[0], n);
    EXPECT_EQ(0, std::memcmp(v.data(), f.params.data() + w.at, 4 * n));
  }
  const auto mean = header["input.mean"]["data_offsets"].get<std::vector<std::size_t>>();
  const auto inv = header["input.inv_std"]["data_offsets"].get<std::vector<std::size_t>>();
  EXPECT_EQ(floats_at(data + mean[0], 1)[0], 0.25f);
  EXPECT_EQ(floats_at(data + inv[0], 1)[0], 4.0f);
  EXPECT_EQ(header.size(), 6u + 2 + 1);
}

TEST(Export, OnnxStartsWithTheModelFields) {
  fake_model f("mlp");
  auto bytes = to_onnx(f.view("mlp"));
  ASSERT_TRUE(bytes) << bytes.err().message;
  const auto& b = *bytes;
  // Field 1 (ir_version, varint), then field 2 (producer_name, bytes) "hydra".
  ASSERT_GE(b.size(), 9u);
  EXPECT_EQ(b[0], 0x08);
  EXPECT_EQ(b[1], onnx::IR_VERSION);
  EXPECT_EQ(b[2], 0x12);
  EXPECT_EQ(b[3], 5);
  EXPECT_EQ(std::string(b.begin() + 4, b.begin() + 9), "hydra");
}

void expect_valid_graph(const std::string& name, const std::vector<std::string>& ops) {
  SCOPED_TRACE(name);
  fake_model f(name);
  auto bytes = to_onnx(f.view(name));
  ASSERT_TRUE(bytes) << bytes.err().message;
  const auto mp = parse(*bytes);
  EXPECT_NO_THROW(onnx::checker::check_model(mp));
  auto broken = mp;  // the control: the checker does look at the graph
  broken.mutable_graph()->mutable_node(2)->set_op_type("NoSuchOp");
  EXPECT_ANY_THROW(onnx::checker::check_model(broken));
  ASSERT_EQ(mp.opset_import_size(), 1);
  EXPECT_EQ(mp.opset_import(0).version(), 13);
  const auto& g = mp.graph();
  ASSERT_EQ(g.input_size(), 1);
  EXPECT_EQ(g.input(0).name(), "input");
  const auto& shape = g.input(0).type().tensor_type().shape();
  ASSERT_EQ(shape.dim_size(), 4);
  EXPECT_EQ(shape.dim(0).dim_param(), "N");
  EXPECT_EQ(shape.dim(1).dim_value(), 1);
  EXPECT_EQ(shape.dim(3).dim_value(), 28);
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.output(0).name(), "logits");
  std::vector<std::string> types;
  for (auto& n : g.node()) types.push_back(n.op_type());
  EXPECT_EQ(types, ops);
  EXPECT_EQ(g.node(0).input(0), "input");
  EXPECT_EQ(g.node(0).input(1), "input.mean");
  EXPECT_EQ(g.node(1).input(1), "input.inv_std");
  EXPECT_EQ(g.node(g.node_size() - 1).output(0), "logits");
  // Every parameter is in an initializer, bit for bit, in the model's order.
  std::vector<float> all;
  for (auto& t : g.initializer()) {
    ASSERT_EQ(t.data_type(), onnx::TensorProto::FLOAT);
    if (t.name().rfind("input.", 0) == 0) continue;
    const auto v = floats_at(reinterpret_cast<const std::uint8_t*>(t.raw_data().data()), t.raw_data().size() / 4);
    all.insert(all.end(), v.begin(), v.end());
  }
  EXPECT_EQ(all, f.params);
  const auto* inv = initializer(g, "input.inv_std");
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ(floats_at(reinterpret_cast<const std::uint8_t*>(inv->raw_data().data()), 1)[0], 4.0f);
}

TEST(Export, OnnxGraphsPassTheChecker) {
  expect_valid_graph("mlp", {"Sub", "Mul", "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"});
  expect_valid_graph(
      "cnn", {"Sub", "Mul", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"});
}

TEST(Export, FromAModel) {
  kernels::context ctx(1);
  for (const auto& name : kernels::model::names()) {
    SCOPED_TRACE(name);
    auto m = kernels::model::make(name, ctx);
    ASSERT_TRUE(m);
    (*m)->init(7);
    const float mean[] = {0.286f}, sd[] = {0.353f};
    ASSERT_TRUE((*m)->set_standardization(mean, sd));
    auto onnx_bytes = to_onnx(**m);
    ASSERT_TRUE(onnx_bytes) << onnx_bytes.err().message;
    const auto mp = parse(*onnx_bytes);
    const auto* mu = initializer(mp.graph(), "input.mean");
    ASSERT_NE(mu, nullptr);
    EXPECT_EQ(floats_at(reinterpret_cast<const std::uint8_t*>(mu->raw_data().data()), 1)[0], 0.286f);
    auto st = to_safetensors(**m);
    ASSERT_TRUE(st) << st.err().message;
    EXPECT_GT(st->size(), 4 * (*m)->params().size());
  }
}

TEST(Export, BadInputIsAnError) {
  fake_model f("mlp");
  auto expect_invalid = [](const model_view& v, const std::string& words) {
    for (auto r : {to_onnx(v), to_safetensors(v)}) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.err().code, errc::invalid_input);
      EXPECT_NE(r.err().message.find(words), std::string::npos) << r.err().message;
    }
  };
  expect_invalid(f.view("resnet"), "cannot export model 'resnet'");
  expect_invalid(f.view("cnn"), "cnn has 3274634 parameters, got 235146");
  auto shorter = f.view("mlp");
  shorter.params = shorter.params.first(100);
  expect_invalid(shorter, "mlp has 235146 parameters, got 100");
  auto no_norm = f.view("mlp");
  no_norm.standardization = {};
  expect_invalid(no_norm, "standardisation needs 2 values");
  fake_model g("mlp");
  g.norm[1] = 0;
  expect_invalid(g.view("mlp"), "inverse std 0");
  g.norm = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
  expect_invalid(g.view("mlp"), "must be finite");
  g.norm = {0, 1};
  g.params[12345] = std::numeric_limits<float>::infinity();
  expect_invalid(g.view("mlp"), "parameter 12345 is not finite");
}

}  // namespace
}  // namespace hydra::ops
