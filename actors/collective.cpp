#include "actors/collective.hpp"

#include <cstring>
#include <vector>

#include "mpi/mpi_group.hpp"

namespace hydra::actors {
namespace {

class p2p_collective final : public collective {
 public:
  p2p_collective(std::unique_ptr<comm::link> owned, comm::link& l, comm::allreduce_options opt)
      : owned_(std::move(owned)), l_(l), opt_(opt) {}
  int rank() const override { return l_.rank(); }
  int size() const override { return l_.size(); }
  result<std::uint64_t> allreduce(std::span<float> data, double weight) override {
    if (l_.size() == 1) return std::uint64_t{0};
    auto r = eng_.run(l_, data, weight, opt_, opt_.codec == kernels::codec_kind::topk ? &ef_ : nullptr);
    if (!r) return r.err();
    return r->bytes_sent;
  }
  status broadcast(std::span<std::byte> data, int root) override {
    if (l_.size() == 1) return {};
    return eng_.broadcast(l_, data, root, opt_);
  }
  void set_max_weights(std::vector<double> per_rank) override { opt_.max_weights = std::move(per_rank); }
  const char* backend() const override { return "p2p"; }
  std::uint64_t bytes_received() const override { return l_.bytes_received(); }

 private:
  std::unique_ptr<comm::link> owned_;
  comm::link& l_;
  comm::allreduce_options opt_;
  comm::allreduce_engine eng_;
  comm::error_feedback ef_;
};

/// MPI: the all-reduce is Open MPI's own; the broadcast rides on it (the
/// root contributes with weight 1, everyone else zeros with weight 0), each
/// byte carried as a float so any bit pattern survives exactly.
class mpi_collective final : public collective {
 public:
  mpi_collective(mpi::mpi_group& g, std::chrono::milliseconds t) : g_(g), timeout_(t) {}
  int rank() const override { return g_.rank(); }
  int size() const override { return g_.size(); }
  result<std::uint64_t> allreduce(std::span<float> data, double weight) override {
    if (g_.size() == 1) return std::uint64_t{0};
    auto r = g_.allreduce_weighted_mean(data, weight, timeout_);
    if (!r) return r.err();
    // What a ring would move: 2 (n-1)/n of the buffer per rank.
    const auto bytes = static_cast<std::uint64_t>(2.0 * (g_.size() - 1) / g_.size() * data.size_bytes());
    received_ += bytes;
    return bytes;
  }
  status broadcast(std::span<std::byte> data, int root) override {
    if (g_.size() == 1) return {};
    std::vector<float> v(data.size(), 0.0f);
    const bool me = g_.rank() == root;
    if (me)
      for (std::size_t i = 0; i < data.size(); ++i) v[i] = static_cast<float>(std::to_integer<unsigned>(data[i]));
    auto r = g_.allreduce_weighted_mean(v, me ? 1.0 : 0.0, timeout_);
    if (!r) return r.err();
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(static_cast<unsigned>(v[i] + 0.5f));
    return {};
  }

  const char* backend() const override { return "mpi"; }
  std::uint64_t bytes_received() const override { return received_; }

 private:
  mpi::mpi_group& g_;
  std::chrono::milliseconds timeout_;
  std::uint64_t received_ = 0;
};

}  // namespace

std::unique_ptr<collective> make_p2p_collective(std::unique_ptr<comm::link> l, comm::allreduce_options opt) {
  comm::link& ref = *l;
  return std::make_unique<p2p_collective>(std::move(l), ref, opt);
}

std::unique_ptr<collective> make_p2p_collective(comm::link& l, comm::allreduce_options opt) {
  return std::make_unique<p2p_collective>(nullptr, l, opt);
}

std::unique_ptr<collective> make_mpi_collective(mpi::mpi_group& g, std::chrono::milliseconds timeout) {
  return std::make_unique<mpi_collective>(g, timeout);
}

}  // namespace hydra::actors
