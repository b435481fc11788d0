#pragma once
/// The trainer's checkpoint file: "HYDRACK1", u64 payload bytes (little
/// endian), the 32-byte BLAKE2b of the payload, then the payload. The
/// payload's layout belongs to the trainer (actors/dist_trainer.cpp); this
/// file only frames it, so that a checkpoint from disk -- which may be torn,
/// truncated, from another model, or hostile -- is checked before a single
/// byte of it reaches the model.

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace hydra {

/// Header bytes before the payload.
inline constexpr std::size_t checkpoint_header_bytes = 8 + 8 + 32;

/// The whole file for `payload`.
std::vector<std::byte> encode_checkpoint(std::span<const std::byte> payload);

/// The payload of a checkpoint file, which must be exactly `expected_payload`
/// bytes (the size of the job state it is loaded into). `name` is used in
/// error messages. Errors: not a checkpoint, for another model or optimizer
/// (size differs), truncated, trailing bytes, fails its checksum.
result<std::vector<std::byte>> decode_checkpoint(std::span<const std::byte> file, std::size_t expected_payload,
                                                 const std::string& name = "checkpoint");

/// Writes `payload` to `path` so that a crash leaves the old or the new
/// checkpoint, never a torn one: a temporary file, fsync, rename, fsync of
/// the folder.
status write_checkpoint_file(const std::string& path, std::span<const std::byte> payload);

/// Reads and checks `path` (decode_checkpoint); errc::not_found when there
/// is no file. Reads no more than the header and `expected_payload` bytes
/// plus one, so a huge file costs nothing.
result<std::vector<std::byte>> read_checkpoint_file(const std::string& path, std::size_t expected_payload);

}  // namespace hydra
