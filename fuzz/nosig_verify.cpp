// Fuzz builds only: a wire::verify() that accepts every signature, so that a
// fuzz target reaches the parsing that follows a signature check (an opened
// frame's payload, a ledger file's chain rules). Linked instead of the real
// one (wire/identity.cpp is compiled with `verify` renamed; fuzz/CMakeLists.txt).

#include "wire/identity.hpp"

namespace hydra::wire {

bool verify(const public_key&, std::span<const std::uint8_t>, const signature&) { return true; }

}  // namespace hydra::wire
