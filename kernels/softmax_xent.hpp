#pragma once
/// Softmax cross-entropy over `classes` logits per sample, mean over the batch
/// (PyTorch's CrossEntropyLoss). Numerically stable (max subtracted).

#include <cstdint>

namespace hydra::kernels {

struct xent_result {
  double loss = 0;  ///< mean loss over the batch
  int correct = 0;  ///< samples whose arg-max logit is the label
};

/// Loss and accuracy of `logits` (n x classes) against `labels`; when `dlogits`
/// is not null also writes dL/dlogits = (softmax - onehot) / n.
xent_result softmax_xent(int n, int classes, const float* logits, const std::int32_t* labels, float* dlogits);

/// Arg-max of each row: the predicted class.
void argmax_rows(int n, int classes, const float* logits, std::int32_t* out);

}  // namespace hydra::kernels
