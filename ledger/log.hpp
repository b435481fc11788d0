#pragma once
/// The crash-safe, append-only ledger file: the only part of the ledger that
/// does I/O.
///
/// File format: a sequence of records, each
///   u32 len (LE) | u32 check (LE) | len bytes of `encode(entry)`
/// where check is the first 4 bytes (LE) of BLAKE2b-256 of the bytes.
/// `append` writes one record and fsyncs before returning: an acknowledged
/// entry is durable. A crash mid-append leaves at most one torn record at the
/// end (short, or with a bad check); `open` truncates it. A bad record with
/// more records after it is corruption, not a torn write, and is an error.
/// A length above `max_record_size` is always treated as corruption.
///
/// The log stores entries; chain rules are ledger_state's (see chain.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "ledger/entry.hpp"

namespace hydra::ledger {

inline constexpr std::uint32_t max_record_size = 4 + 1 + 32 + 8 + 32 + 4 + max_subject_size + 8 + 4 +
                                                 max_payload_size + 64;

class ledger_log {
 public:
  /// Opens or creates the log at `path` (mode 0600) and reads every record.
  /// A torn last record is cut off (ftruncate + fsync) and reported through
  /// `truncated_bytes()`. Errors: errc::invalid_input naming the record index
  /// and byte offset for corruption before the end; errc::io when the OS
  /// refuses.
  static result<ledger_log> open(const std::string& path);

  ledger_log(ledger_log&& other) noexcept;
  ledger_log& operator=(ledger_log&& other) noexcept;
  ledger_log(const ledger_log&) = delete;
  ledger_log& operator=(const ledger_log&) = delete;
  ~ledger_log();

  /// Appends one record and fsyncs. On failure the file is cut back to its
  /// previous length and the entry is not in `entries()`.
  status append(const entry& e);

  const std::vector<entry>& entries() const { return entries_; }
  const std::string& path() const { return path_; }
  /// Bytes of a torn tail removed by `open` (0 when the file was clean).
  std::uint64_t truncated_bytes() const { return truncated_bytes_; }

 private:
  ledger_log(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
  std::vector<entry> entries_;
  std::uint64_t size_ = 0;  ///< bytes of whole, good records
  std::uint64_t truncated_bytes_ = 0;
};

/// The first entry that fails a check.
struct bad_entry {
  std::size_t index = 0;     ///< record index in the file
  std::uint64_t offset = 0;  ///< byte offset of the record
  std::string author;        ///< author key, short hex; empty if undecodable
  std::uint64_t seq = 0;     ///< valid only when `author` is not empty
  std::string reason;
};

struct verify_report {
  std::size_t entries = 0;  ///< good entries before the first bad one
  std::size_t authors = 0;
  std::uint64_t torn_bytes = 0;  ///< a torn tail that `open` would cut off
  std::optional<bad_entry> first_bad;
  bool ok() const { return !first_bad; }
};

/// Re-reads `path` without changing it and checks every record's check,
/// decoding, signature and chain. errc::not_found / errc::io when it cannot
/// be read; otherwise a report (a torn tail alone does not make it bad).
result<verify_report> verify_file(const std::string& path);

/// Every entry of the log at `path`, read-only (a torn tail is ignored).
/// Errors as for `ledger_log::open`, plus errc::not_found.
result<std::vector<entry>> read_log(const std::string& path);

}  // namespace hydra::ledger
