#pragma once
/// Pure helpers for agreeing on the survivors of an MPI job after a rank died
/// (no MPI, no I/O: tested exhaustively in survivors.test.cpp).
///
/// World ranks are `int`s as MPI spells them. A "member list" is sorted and
/// duplicate-free; every function here returns lists in that form.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace hydra::mpi {

/// Sorts and removes duplicates.
std::vector<int> normalized(std::vector<int> ranks);

/// Checks a proposed new member list: non-empty, every rank in
/// [0, world_size), no duplicates, contains `self`, and a subset of
/// `current` (a rank that left the communicator never comes back).
status validate_members(const std::vector<int>& proposed, const std::vector<int>& current,
                        int world_size, int self);

/// The ranks of `current` missing from `survivors`.
std::vector<int> missing_from(const std::vector<int>& current, const std::vector<int>& survivors);

/// Round two of the survivor probe: my own view intersected with every view
/// I received from a rank in it. A rank of `mine` whose view did not arrive
/// (`theirs[i]` empty means "nothing came") is dropped as well, so one slow
/// or half-dead rank cannot keep itself in. `theirs` is indexed like
/// `senders`; `senders` must be a subset of `mine`.
std::vector<int> intersect_views(const std::vector<int>& mine, const std::vector<int>& senders,
                                 const std::vector<std::vector<int>>& theirs);

/// Order-sensitive 64-bit fingerprint of a member list (FNV-1a over the
/// ranks); equal lists give equal fingerprints on every rank.
std::uint64_t fingerprint(const std::vector<int>& members);

/// "0,1,3" for messages.
std::string join_ranks(const std::vector<int>& ranks);

}  // namespace hydra::mpi
