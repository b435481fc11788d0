#include "common/checkpoint_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/bytes.hpp"
#include "common/hash.hpp"

namespace hydra {
namespace {

constexpr char magic[8] = {'H', 'Y', 'D', 'R', 'A', 'C', 'K', '1'};

}  // namespace

std::vector<std::byte> encode_checkpoint(std::span<const std::byte> payload) {
  std::vector<std::byte> out(checkpoint_header_bytes + payload.size());
  std::memcpy(out.data(), magic, 8);
  std::uint64_t size = payload.size();
  for (int i = 0; i < 8; ++i) out[8 + static_cast<std::size_t>(i)] = static_cast<std::byte>(size >> (8 * i));
  const auto digest = blake2b_256(payload);
  std::memcpy(out.data() + 16, digest.data(), digest.size());
  if (!payload.empty()) std::memcpy(out.data() + checkpoint_header_bytes, payload.data(), payload.size());
  return out;
}

result<std::vector<std::byte>> decode_checkpoint(std::span<const std::byte> file, std::size_t expected_payload,
                                                 const std::string& name) {
  if (file.size() < 8 || std::memcmp(file.data(), magic, 8) != 0)
    return make_error(errc::invalid_input, name + ": not a Hydra checkpoint");
  if (file.size() < 16) return make_error(errc::invalid_input, name + ": truncated checkpoint (no size)");
  std::uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= std::uint64_t(std::to_integer<std::uint8_t>(file[8 + static_cast<std::size_t>(i)])) << (8 * i);
  if (size != expected_payload)
    return make_error(errc::invalid_input, name + ": checkpoint is for another model or optimizer (" +
                                               std::to_string(size) + " bytes of state, this job has " +
                                               std::to_string(expected_payload) + ")");
  const std::size_t have = file.size() - 16;
  if (have < 32 || have - 32 < size)
    return make_error(errc::invalid_input, name + ": truncated checkpoint (" + std::to_string(file.size()) +
                                               " of " + std::to_string(checkpoint_header_bytes + size) + " bytes)");
  if (have - 32 > size) return make_error(errc::invalid_input, name + ": checkpoint has trailing bytes");
  const auto payload = file.subspan(checkpoint_header_bytes);
  digest256 digest{};
  std::memcpy(digest.data(), file.data() + 16, digest.size());
  if (blake2b_256(payload) != digest) return make_error(errc::invalid_input, name + ": checkpoint fails its checksum");
  return std::vector<std::byte>(payload.begin(), payload.end());
}

status write_checkpoint_file(const std::string& path, std::span<const std::byte> payload) {
  const auto bytes = encode_checkpoint(payload);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errc::io, tmp + ": " + std::strerror(errno));
  bool ok = write_all_fd(fd, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return make_error(errc::io, path + ": cannot write checkpoint");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::io, path + ": cannot replace checkpoint: " + std::strerror(errno));
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

result<std::vector<std::byte>> read_checkpoint_file(const std::string& path, std::size_t expected_payload) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(errc::not_found, path + ": no checkpoint");
    return make_error(errc::io, path + ": " + std::strerror(errno));
  }
  // At most one byte more than a well-formed file, so trailing bytes show.
  const std::size_t want = checkpoint_header_bytes + expected_payload + 1;
  std::vector<std::byte> buf(want);
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::read(fd, buf.data() + got, want - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return make_error(errc::io, path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  return decode_checkpoint(buf, expected_payload, path);
}

}  // namespace hydra
