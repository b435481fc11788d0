// The file side of trust/cert.hpp: whole-file reads, atomic replacement, and
// the operator's local revocation list (OPDIR/revoked).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/bytes.hpp"
#include "trust/cert.hpp"

namespace hydra::trust {
namespace {

error os_error(const std::string& what) { return make_error(errc::io, what + ": " + std::strerror(errno)); }

bool write_all(int fd, const std::uint8_t* p, std::size_t n) { return write_all_fd(fd, p, n); }

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

result<std::vector<std::uint8_t>> read_small_file(const std::string& path, std::size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno == ENOENT ? errc::not_found : errc::io, path + ": " + std::strerror(errno));
  std::vector<std::uint8_t> out(max + 1);
  std::size_t got = 0;
  ssize_t r = 1;
  while (got < out.size() && r != 0) {
    r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    got += static_cast<std::size_t>(r);
  }
  const auto read_error = r < 0 ? os_error(path) : error{};
  ::close(fd);
  if (r < 0) return read_error;
  out.resize(got);
  if (out.size() > max)
    return make_error(errc::invalid_input, path + ": larger than " + std::to_string(max) + " bytes");
  return out;
}

status write_file_atomic(const std::string& path, std::span<const std::uint8_t> data, unsigned mode) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return os_error(path);
  const bool ok =
      write_all(fd, data.data(), data.size()) && ::fchmod(fd, static_cast<mode_t>(mode)) == 0 && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = os_error(path);
    ::unlink(tmp.c_str());
    return e;
  }
  sync_dir(dir_of(path));
  return {};
}

result<cluster> load_cluster(const std::string& path) {
  auto b = read_small_file(path);
  if (!b) return b.err();
  auto c = decode_cluster(*b);
  if (!c) return make_error(c.err().code, path + ": " + c.err().message);
  return c;
}

result<membership_cert> load_cert(const std::string& path) {
  auto b = read_small_file(path);
  if (!b) return b.err();
  auto m = decode_cert(*b);
  if (!m) return make_error(m.err().code, path + ": " + m.err().message);
  return m;
}

result<std::size_t> load_revocations_file(const std::string& path, revocations& out) {
  std::ifstream f(path);
  if (!f) return errno == ENOENT ? result<std::size_t>(std::size_t{0}) : result<std::size_t>(os_error(path));
  std::string line;
  std::size_t n = 0;
  for (int no = 1; std::getline(f, line); ++no) {
    line = line.substr(0, line.find('#'));
    const auto b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    auto pk = parse_revocation_subject(std::string_view(line).substr(b, e - b + 1));
    if (!pk) return make_error(errc::invalid_input, path + ":" + std::to_string(no) + ": " + pk.err().message);
    if (auto s = out.add(revocation{*pk, 0, {}, 0}); !s) return make_error(s.err().code, path + ": " + s.err().message);
    ++n;
  }
  return n;
}

result<bool> append_revocations_file(const std::string& path, const wire::public_key& pk) {
  revocations known;
  auto n = load_revocations_file(path, known);
  if (!n) return n.err();
  if (known.is_revoked(pk, 0)) return false;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return os_error(path);
  const auto line = revocation_subject(pk) + "\n";
  const bool ok = write_all(fd, reinterpret_cast<const std::uint8_t*>(line.data()), line.size()) && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !ok) return os_error(path);
  return true;
}

}  // namespace hydra::trust
