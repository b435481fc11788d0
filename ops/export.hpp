#pragma once
/// Exporting a trained model for use outside Hydra: ONNX (for inference
/// runtimes) and safetensors (for PyTorch and friends).
///
/// Both formats carry the input standardisation, so the exported model takes
/// what Hydra's own test set holds: raw pixels in [0, 1], N x 1 x 28 x 28.
///  - ONNX (opset 13): input "input" [N, 1, 28, 28] -> Sub(input.mean) ->
///    Mul(input.inv_std) -> the layers (Conv/Relu/MaxPool/Flatten/Gemm) ->
///    output "logits" [N, 10]. The transform is kept as its own two nodes,
///    not folded into the first layer, so the weights stay exactly Hydra's
///    (bit for bit) and the transform is visible; the two nodes are there
///    even when it is the identity.
///  - safetensors: the layers' tensors as PyTorch's state_dict names them
///    for a module with attributes fc1, fc2, ... (mlp) or conv1, conv2, fc1,
///    fc2 (cnn): "fc1.weight", "fc1.bias", ...; plus "input.mean" and
///    "input.inv_std" ([C] each), which a strict load_state_dict must drop
///    first; __metadata__ names the model and the transform.
///
/// The architectures are those of kernels::model::make, described here by
/// name; the model overloads check that the model's layers match.
/// Pure functions over values; thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace hydra::kernels {
class model;
}

namespace hydra::ops {

/// A model as an exporter needs it. The spans are borrowed for the call.
struct model_view {
  std::string name;                        ///< "mlp" or "cnn" (kernels::model::names())
  std::span<const float> params;           ///< the model's flat parameter buffer
  std::span<const float> standardization;  ///< C means then C inverse stds (model::standardization_state)
};

/// Parameters the named architecture has; errc::invalid_input for an unknown name.
result<std::size_t> param_count(const std::string& name);

/// The whole ONNX model file (a serialized onnx.ModelProto). Errors
/// (errc::invalid_input): unknown name, a parameter buffer of the wrong
/// size, a standardisation of the wrong size or with a non-finite value or
/// an inverse std <= 0, a non-finite parameter.
result<std::vector<std::uint8_t>> to_onnx(const model_view& m);
result<std::vector<std::uint8_t>> to_onnx(const kernels::model& m);

/// The whole safetensors file: u64 little-endian header length, the JSON
/// header (padded with spaces to a multiple of 8), the f32 little-endian
/// tensors back to back. Errors as for to_onnx.
result<std::vector<std::uint8_t>> to_safetensors(const model_view& m);
result<std::vector<std::uint8_t>> to_safetensors(const kernels::model& m);

}  // namespace hydra::ops
