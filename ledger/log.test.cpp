#include "ledger/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ledger/internal/test_util.hpp"

namespace hydra::ledger {
namespace {

namespace fs = std::filesystem;

class LedgerLog : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hydra_ledger_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "ledger.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes `n` entries by one author; returns them.
  std::vector<entry> write_entries(int n) {
    const auto chain = testing::make_chain(id_, n);
    auto log = ledger_log::open(path_);
    EXPECT_TRUE(log) << log.err().message;
    for (const auto& e : chain) EXPECT_TRUE(log->append(e).ok());
    return chain;
  }

  void flip_byte(std::uint64_t offset) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x40));
  }

  /// Byte offset of record `i` (records are 8-byte header + encode(entry)).
  static std::uint64_t offset_of(const std::vector<entry>& es, std::size_t i) {
    std::uint64_t off = 0;
    for (std::size_t j = 0; j < i; ++j) off += 8 + encode(es[j]).size();
    return off;
  }

  wire::identity id_ = wire::generate_identity();
  fs::path dir_;
  std::string path_;
};

TEST_F(LedgerLog, AppendThenReopen) {
  const auto chain = write_entries(5);
  auto log = ledger_log::open(path_);
  ASSERT_TRUE(log) << log.err().message;
  EXPECT_EQ(log->entries(), chain);
  EXPECT_EQ(log->truncated_bytes(), 0u);
  // Appending after reopen continues the same file.
  const entry more = testing::next_entry(id_, &chain.back(), kind::reward, "z", 3);
  ASSERT_TRUE(log->append(more).ok());
  auto again = ledger_log::open(path_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->entries().size(), 6u);
  EXPECT_EQ(again->entries().back(), more);
}

TEST_F(LedgerLog, EmptyFileOpensEmpty) {
  auto log = ledger_log::open(path_);
  ASSERT_TRUE(log) << log.err().message;
  EXPECT_TRUE(log->entries().empty());
  auto rep = verify_file(path_);
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok());
}

TEST_F(LedgerLog, TornTailIsTruncatedOnReopen) {
  const auto chain = write_entries(4);
  const auto full = fs::file_size(path_);
  for (std::uint64_t cut : {3u, 20u, 80u}) {
    fs::resize_file(path_, offset_of(chain, 4) - cut);
    auto log = ledger_log::open(path_);
    ASSERT_TRUE(log) << log.err().message;
    EXPECT_EQ(log->entries(), std::vector<entry>(chain.begin(), chain.begin() + 3));
    EXPECT_EQ(log->truncated_bytes(), full - cut - offset_of(chain, 3));
    EXPECT_EQ(fs::file_size(path_), offset_of(chain, 3));
    ASSERT_TRUE(log->append(chain[3]).ok());  // the tail can be rewritten
  }
  auto log = ledger_log::open(path_);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->entries(), chain);
}

TEST_F(LedgerLog, TornHeaderIsTruncated) {
  const auto chain = write_entries(2);
  std::ofstream(path_, std::ios::app | std::ios::binary).write("\x05\x00\x00", 3);
  auto log = ledger_log::open(path_);
  ASSERT_TRUE(log) << log.err().message;
  EXPECT_EQ(log->entries(), chain);
  EXPECT_EQ(log->truncated_bytes(), 3u);
}

TEST_F(LedgerLog, BadChecksumOnLastRecordIsTornTail) {
  const auto chain = write_entries(3);
  flip_byte(offset_of(chain, 2) + 8 + 10);
  auto log = ledger_log::open(path_);
  ASSERT_TRUE(log) << log.err().message;
  EXPECT_EQ(log->entries().size(), 2u);
}

TEST_F(LedgerLog, FlippedByteInMiddleRecordFailsNamingIt) {
  const auto chain = write_entries(3);
  const auto size_before = fs::file_size(path_);
  flip_byte(offset_of(chain, 1) + 8 + 60);
  auto log = ledger_log::open(path_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.err().code, errc::invalid_input);
  const std::string& msg = log.err().message;
  EXPECT_NE(msg.find("record 1 at offset " + std::to_string(offset_of(chain, 1))), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_EQ(fs::file_size(path_), size_before);  // corruption is never truncated away

  auto rep = verify_file(path_);
  ASSERT_TRUE(rep) << rep.err().message;
  ASSERT_FALSE(rep->ok());
  EXPECT_EQ(rep->first_bad->index, 1u);
  EXPECT_EQ(rep->first_bad->offset, offset_of(chain, 1));
  EXPECT_EQ(rep->entries, 1u);

  auto read = read_log(path_);
  EXPECT_FALSE(read);
}

TEST_F(LedgerLog, VerifyReportsCountsAndChainErrors) {
  const auto other = wire::generate_identity();
  const auto chain = write_entries(3);
  {
    auto log = ledger_log::open(path_);
    ASSERT_TRUE(log);
    for (const auto& e : testing::make_chain(other, 2)) ASSERT_TRUE(log->append(e).ok());
  }
  auto rep = verify_file(path_);
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(rep->entries, 5u);
  EXPECT_EQ(rep->authors, 2u);

  // The log stores what it is given: a replayed entry is caught by verify.
  {
    auto log = ledger_log::open(path_);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(chain[1]).ok());
  }
  rep = verify_file(path_);
  ASSERT_TRUE(rep);
  ASSERT_FALSE(rep->ok());
  EXPECT_EQ(rep->first_bad->index, 5u);
  EXPECT_EQ(rep->first_bad->seq, 1u);
  EXPECT_EQ(rep->first_bad->author, author_short(chain[1]));
  EXPECT_EQ(rep->first_bad->reason.rfind("duplicate", 0), 0u) << rep->first_bad->reason;
}

TEST_F(LedgerLog, VerifyMissingFileIsNotFound) {
  auto rep = verify_file((dir_ / "nope.log").string());
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.err().code, errc::not_found);
}

}  // namespace
}  // namespace hydra::ledger
