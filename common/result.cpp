#include "common/result.hpp"

namespace hydra {

const char* to_string(errc c) {
  switch (c) {
    case errc::invalid_input: return "invalid input";
    case errc::not_found: return "not found";
    case errc::io: return "i/o error";
    case errc::unavailable: return "unavailable";
    case errc::deadline: return "deadline exceeded";
    case errc::internal: return "internal error";
  }
  return "unknown error";
}

}  // namespace hydra
