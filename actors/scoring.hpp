#pragma once
/// Where training meets contributed data:
/// - `model_board`: the trainer publishes its current weights; scorers read them.
/// - `sample_pool`: contributed samples a quorum accepted; the trainer mixes
///   them into its slice of every round from the next round on.
/// - `scorer`: measures a contribution against the current model (loss delta
///   on held-out data after one step on it, as Gauntlet does, and agreement
///   of its labels with the model's predictions).
/// All three are thread-safe where they are shared between the node actor
/// and the trainer thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "data/idx.hpp"

namespace hydra::kernels {
class context;
class model;
}  // namespace hydra::kernels

namespace hydra::actors {

class model_board {
 public:
  /// `standardization`: the model's standardization_state() (empty = none).
  void publish(const std::string& model_name, std::span<const float> params, std::uint64_t step,
               std::span<const float> standardization = {});
  /// Copies the latest weights (and, if asked, the input standardisation);
  /// false before the first publish.
  bool read(std::string& model_name, std::vector<float>& params, std::uint64_t& step,
            std::vector<float>* standardization = nullptr) const;

 private:
  mutable std::mutex mu_;
  std::string name_;
  std::vector<float> params_, norm_;
  std::uint64_t step_ = 0;
  bool set_ = false;
};

class sample_pool {
 public:
  /// Adds accepted samples (rows*cols floats each).
  void add(const data::dataset& d);
  /// Up to `max` samples into x / y for a round of `epoch`: like the base
  /// training set, every pooled sample is trained once per epoch (samples
  /// accepted during an epoch join it at once). Returns how many.
  int take(int max, int epoch, std::size_t sample_size, float* x, std::int32_t* y);
  std::size_t size() const;
  std::uint64_t drawn() const;

 private:
  mutable std::mutex mu_;
  std::vector<float> images_;
  std::vector<std::uint8_t> labels_;
  std::size_t sample_size_ = 0, cursor_ = 0, drawn_this_epoch_ = 0;
  int epoch_ = -1;
  std::uint64_t drawn_ = 0;
};

struct score_result {
  double score = 0;          ///< the value the quorum votes on (see scoring.cpp)
  double agreement = 0;      ///< share of samples whose label the model predicts
  double loss_delta = 0;     ///< held-out loss before minus after one step on the data (> 0 helps)
  double val_accuracy = 0;   ///< the model's accuracy on the held-out set
  double val_loss = 0;
  std::uint64_t model_step = 0;
};

class scorer {
 public:
  /// `validation`: held-out labelled samples (never trained on).
  scorer(data::dataset validation, std::shared_ptr<model_board> board);
  /// Loads the held-out samples in the background (so a node starts at
  /// once); until they are in, score() answers "model not ready".
  scorer(std::function<result<data::dataset>()> load_validation, std::shared_ptr<model_board> board);
  ~scorer();

  /// errc::unavailable "model not ready" while no weights are published or
  /// the model is still near chance on the held-out set.
  result<score_result> score(const data::dataset& contribution);

 private:
  data::dataset val_;
  std::shared_ptr<model_board> board_;
  std::thread loader_;
  std::atomic<bool> loaded_{false};
  std::unique_ptr<kernels::context> ctx_;
  std::unique_ptr<kernels::model> model_;
  std::string model_name_;
  std::vector<float> params_, norm_;
};

/// Loss-delta step size and the readiness threshold, documented in scoring.cpp.
inline constexpr double score_lr = 0.05;
inline constexpr double ready_accuracy = 0.5;

}  // namespace hydra::actors
