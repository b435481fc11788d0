#include "ledger/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ledger/chain.hpp"

namespace hydra::ledger {
namespace {

constexpr std::size_t header_size = 8;

error os_error(const std::string& path, const char* what) {
  return make_error(errc::io, path + ": " + what + ": " + std::strerror(errno));
}

std::uint32_t get_u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t check_of(std::span<const std::uint8_t> bytes) {
  return get_u32(blake2b_256(std::as_bytes(bytes)).data());
}

/// What a pass over the file's bytes found.
struct scan_result {
  std::vector<entry> entries;
  std::vector<std::uint64_t> offsets;
  std::uint64_t good_end = 0;    ///< end of the last good record
  std::uint64_t torn_bytes = 0;  ///< a torn tail after good_end
  std::optional<bad_entry> corrupt;
};

bad_entry corruption(std::size_t index, std::uint64_t offset, std::string reason,
                     std::span<const std::uint8_t> body = {}) {
  bad_entry b{index, offset, "", 0, std::move(reason)};
  if (auto e = decode(body)) {
    b.author = author_short(*e);
    b.seq = e->seq;
  }
  return b;
}

scan_result scan(std::span<const std::uint8_t> bytes) {
  scan_result r;
  std::uint64_t off = 0;
  const std::uint64_t size = bytes.size();
  while (off < size) {
    const std::size_t idx = r.entries.size();
    if (size - off < header_size) {
      r.torn_bytes = size - off;
      break;
    }
    const std::uint32_t len = get_u32(bytes.data() + off);
    const std::uint32_t check = get_u32(bytes.data() + off + 4);
    if (len == 0 || len > max_record_size) {
      r.corrupt = corruption(idx, off, "bad record length " + std::to_string(len));
      break;
    }
    if (size - off - header_size < len) {
      r.torn_bytes = size - off;
      break;
    }
    const auto body = bytes.subspan(off + header_size, len);
    if (check_of(body) != check) {
      if (off + header_size + len == size) {
        r.torn_bytes = size - off;
      } else {
        r.corrupt = corruption(idx, off, "checksum mismatch: the stored bytes were altered (author and seq as read from them)", body);
      }
      break;
    }
    auto e = decode(body);
    if (!e) {
      r.corrupt = corruption(idx, off, e.err().message);
      break;
    }
    r.entries.push_back(std::move(*e));
    r.offsets.push_back(off);
    off += header_size + len;
  }
  r.good_end = off;
  return r;
}

error corrupt_error(const std::string& path, const bad_entry& b) {
  std::string msg = path + ": corrupt record " + std::to_string(b.index) + " at offset " + std::to_string(b.offset);
  if (!b.author.empty()) msg += " (author " + b.author + " seq " + std::to_string(b.seq) + ")";
  return make_error(errc::invalid_input, msg + ": " + b.reason);
}

/// Whole contents of an open file.
result<std::vector<std::uint8_t>> read_all(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error(path, "stat");
  if (!S_ISREG(st.st_mode)) return make_error(errc::invalid_input, path + ": not a regular file");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error(path, "read");
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

result<std::vector<std::uint8_t>> read_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return make_error(errc::not_found, path + ": no such ledger log");
  if (fd < 0) return os_error(path, "open");
  auto bytes = read_all(fd, path);
  ::close(fd);
  return bytes;
}

status write_all(int fd, std::span<const std::uint8_t> bytes, std::uint64_t at, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return os_error(path, "write");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

/// Makes a newly created file's directory entry durable.
void sync_parent_dir(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

result<ledger_log> ledger_log::open(const std::string& path) {
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return os_error(path, "open");
  ledger_log log(fd, path);
  if (!existed) sync_parent_dir(path);
  auto bytes = read_all(fd, path);
  if (!bytes) return bytes.err();
  scan_result r = scan(*bytes);
  if (r.corrupt) return corrupt_error(path, *r.corrupt);
  if (r.torn_bytes) {
    if (::ftruncate(fd, static_cast<off_t>(r.good_end)) != 0) return os_error(path, "truncate torn tail");
    if (::fsync(fd) != 0) return os_error(path, "fsync");
  }
  log.entries_ = std::move(r.entries);
  log.size_ = r.good_end;
  log.truncated_bytes_ = r.torn_bytes;
  return log;
}

ledger_log::ledger_log(ledger_log&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      path_(std::move(o.path_)),
      entries_(std::move(o.entries_)),
      size_(o.size_),
      truncated_bytes_(o.truncated_bytes_) {}

ledger_log& ledger_log::operator=(ledger_log&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    entries_ = std::move(o.entries_);
    size_ = o.size_;
    truncated_bytes_ = o.truncated_bytes_;
  }
  return *this;
}

ledger_log::~ledger_log() {
  if (fd_ >= 0) ::close(fd_);
}

status ledger_log::append(const entry& e) {
  if (e.subject.size() > max_subject_size || e.payload.size() > max_payload_size)
    return make_error(errc::invalid_input, path_ + ": entry subject or payload too large");
  const auto body = encode(e);
  std::vector<std::uint8_t> rec(header_size);
  put_u32(rec.data(), static_cast<std::uint32_t>(body.size()));
  put_u32(rec.data() + 4, check_of(body));
  rec.insert(rec.end(), body.begin(), body.end());
  status s = write_all(fd_, rec, size_, path_);
  if (s && ::fsync(fd_) != 0) s = os_error(path_, "fsync");
  if (!s) {
    // Best effort: cut back to the last acknowledged record.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) == 0) ::fsync(fd_);
    return s;
  }
  size_ += rec.size();
  entries_.push_back(e);
  return {};
}

result<verify_report> verify_file(const std::string& path) {
  auto bytes = read_path(path);
  if (!bytes) return bytes.err();
  const scan_result r = scan(*bytes);
  verify_report rep;
  rep.torn_bytes = r.torn_bytes;
  ledger_state st;
  for (std::size_t i = 0; i < r.entries.size() && !rep.first_bad; ++i) {
    const entry& e = r.entries[i];
    if (auto s = st.append(e); !s) rep.first_bad = bad_entry{i, r.offsets[i], author_short(e), e.seq, s.err().message};
  }
  if (!rep.first_bad && r.corrupt) rep.first_bad = r.corrupt;
  rep.entries = st.entries().size();
  rep.authors = st.author_count();
  return rep;
}

result<std::vector<entry>> read_log(const std::string& path) {
  auto bytes = read_path(path);
  if (!bytes) return bytes.err();
  scan_result r = scan(*bytes);
  if (r.corrupt) return corrupt_error(path, *r.corrupt);
  return std::move(r.entries);
}

}  // namespace hydra::ledger
