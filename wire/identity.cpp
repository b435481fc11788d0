#include "wire/identity.hpp"

#include "common/bytes.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hydra::wire {
namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

error os_error(const std::string& what) {
  return make_error(errc::io, what + ": " + std::strerror(errno));
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

/// Closes a file descriptor on scope exit.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

/// Creates `dir` (mode 0700) and any missing parents.
status ensure_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return make_error(errc::invalid_input, dir + ": exists and is not a directory");
  }
  std::error_code ec;
  const auto parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return make_error(errc::io, parent.string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return os_error(dir);
  return {};
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) { return write_all_fd(fd, p, n); }

/// Moves `from` to `to` unless `to` exists (then returns EEXIST in errno).
bool rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return false;
  // The filesystem lacks RENAME_NOREPLACE: link() also refuses to replace.
  if (::link(from.c_str(), to.c_str()) != 0) return false;
  ::unlink(from.c_str());
  return true;
}

void sync_dir(const std::string& dir) {
  fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}

/// Writes a new key file (temp file, fsync, no-replace rename, fsync of the
/// folder). errc::unavailable means another process created it first.
status create_key_file(const std::string& dir, const std::string& path, const identity& id) {
  std::string tmp = path + ".tmp.XXXXXX";
  fd_guard f{::mkstemp(tmp.data())};  // mode 0600
  if (f.fd < 0) return os_error(dir);
  const bool ok = ::fchmod(f.fd, 0600) == 0 && write_all(f.fd, id.sk.data(), id.sk.size()) &&
                  ::fsync(f.fd) == 0;
  if (!ok || ::close(f.fd) != 0) {
    f.fd = -1;
    auto e = os_error(tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  f.fd = -1;
  if (!rename_no_replace(tmp, path)) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    if (saved == EEXIST) return make_error(errc::unavailable, path + ": created concurrently");
    return os_error(path);
  }
  sync_dir(dir);
  return {};
}

result<identity> read_key_file(const std::string& path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error(path);
  if (!S_ISREG(st.st_mode)) return make_error(errc::invalid_input, path + ": not a regular file");
  if ((st.st_mode & 077) != 0)
    return make_error(errc::invalid_input,
                      path + ": permissions " + mode_text(st.st_mode) +
                          " are too open (the secret key is readable or writable by group or "
                          "others); run chmod 600 on it");
  secret_key sk{};
  if (st.st_size != static_cast<off_t>(sk.size()))
    return make_error(errc::invalid_input,
                      path + ": expected 64 bytes (an Ed25519 secret key), found " +
                          std::to_string(st.st_size));
  std::size_t got = 0;
  while (got < sk.size()) {
    const ssize_t r = ::read(fd, sk.data() + got, sk.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return os_error(path);
    if (r == 0) return make_error(errc::io, path + ": short read");
    got += static_cast<std::size_t>(r);
  }
  auto id = identity_from_secret(sk);
  sodium_memzero(sk.data(), sk.size());
  if (!id) return make_error(errc::invalid_input, path + ": " + id.err().message);
  return id;
}

}  // namespace

identity generate_identity() {
  ensure_sodium();
  identity self;
  crypto_sign_keypair(self.pk.data(), self.sk.data());
  self.id = id_of(self.pk);
  return self;
}

node_id id_of(const public_key& pk) { return blake2b_256(std::as_bytes(std::span(pk))); }

result<identity> identity_from_secret(const secret_key& sk) {
  ensure_sodium();
  identity self;
  crypto_sign_seed_keypair(self.pk.data(), self.sk.data(), sk.data());  // seed = first 32 bytes
  if (sodium_memcmp(self.sk.data(), sk.data(), sk.size()) != 0)
    return make_error(errc::invalid_input,
                      "inconsistent secret key (its public half does not match its seed)");
  self.id = id_of(self.pk);
  return self;
}

result<identity> load_or_create_identity(const std::string& dir) {
  if (auto s = ensure_dir(dir); !s) return s.err();
  return load_or_create_key_file(dir + "/identity.key");
}

result<identity> load_or_create_key_file(const std::string& path) {
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  for (int attempt = 0; attempt < 2; ++attempt) {
    fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (f.fd >= 0) return read_key_file(path, f.fd);
    if (errno == ELOOP) return make_error(errc::invalid_input, path + ": is a symbolic link");
    if (errno != ENOENT) return os_error(path);
    identity fresh = generate_identity();
    auto s = create_key_file(dir, path, fresh);
    if (s) return fresh;
    if (s.err().code != errc::unavailable) return s.err();
    // Another process created the key between our open and rename: use theirs.
  }
  return make_error(errc::io, path + ": could not be created or read");
}

signature sign(const identity& self, std::span<const std::uint8_t> message) {
  ensure_sodium();
  signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), self.sk.data());
  return sig;
}

bool verify(const public_key& pk, std::span<const std::uint8_t> message, const signature& sig) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pk.data()) == 0;
}

}  // namespace hydra::wire
