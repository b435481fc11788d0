#pragma once
/// What a training round needs from its group, whatever carries it: a
/// sample-weighted mean all-reduce and a broadcast. Two kinds:
/// - p2p: the ring of comm/ over a link (comm::tcp_link between nodes);
/// - mpi: Open MPI's MPI_Iallreduce on a communicator (hydra::mpi), for a
///   LAN cluster started with mpirun.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/link.hpp"
#include "common/result.hpp"

namespace hydra::mpi {
class mpi_group;
}

namespace hydra::actors {

class collective {
 public:
  virtual ~collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// data := the sample-weighted mean over the group; returns bytes sent.
  virtual result<std::uint64_t> allreduce(std::span<float> data, double weight) = 0;
  /// Every member ends with root's bytes.
  virtual status broadcast(std::span<std::byte> data, int root) = 0;
  /// The planned share of each rank (sample weight it may claim per
  /// all-reduce): a claim above it drops that rank from the round. Every
  /// rank sets the same vector. Backends that cannot check it ignore it.
  virtual void set_max_weights(std::vector<double> per_rank) { (void)per_rank; }
  /// "p2p" or "mpi" (a label for metrics).
  virtual const char* backend() const = 0;
  /// Payload bytes received over the group's links so far (MPI: what a
  /// ring would have moved, as for the bytes sent).
  virtual std::uint64_t bytes_received() const = 0;
};

/// The ring over `l` (owned), with `opt` (codec, segment size, deadline).
std::unique_ptr<collective> make_p2p_collective(std::unique_ptr<comm::link> l, comm::allreduce_options opt);
/// The same over a link the caller keeps.
std::unique_ptr<collective> make_p2p_collective(comm::link& l, comm::allreduce_options opt);
/// MPI_Iallreduce on `g`'s current communicator (not owned); every wait is
/// bounded by `timeout`.
std::unique_ptr<collective> make_mpi_collective(mpi::mpi_group& g, std::chrono::milliseconds timeout);

}  // namespace hydra::actors
