#include "common/checkpoint_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hydra {
namespace {

std::vector<std::byte> payload(std::size_t n) {
  std::vector<std::byte> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::byte>(i * 7 + 3);
  return p;
}

std::string temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("hydra-ck-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

TEST(CheckpointFile, RoundTripsThroughAFile) {
  const auto dir = temp_dir();
  const auto path = dir + "/ck";
  const auto p = payload(1000);
  ASSERT_TRUE(write_checkpoint_file(path, p));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::filesystem::file_size(path), checkpoint_header_bytes + p.size());
  auto back = read_checkpoint_file(path, p.size());
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, p);
  std::filesystem::remove_all(dir);
}

TEST(CheckpointFile, EveryDamageIsNamed) {
  const auto p = payload(64);
  const auto good = encode_checkpoint(p);
  ASSERT_TRUE(decode_checkpoint(good, p.size()));

  auto expect_error = [&](std::vector<std::byte> f, std::size_t expected, const char* what) {
    auto r = decode_checkpoint(f, expected, "F");
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.err().code, errc::invalid_input);
    EXPECT_NE(r.err().message.find(what), std::string::npos) << r.err().message;
    EXPECT_EQ(r.err().message.rfind("F: ", 0), 0u) << r.err().message;
  };
  expect_error({}, p.size(), "not a Hydra checkpoint");
  auto bad_magic = good;
  bad_magic[0] = std::byte{'X'};
  expect_error(bad_magic, p.size(), "not a Hydra checkpoint");
  expect_error(good, p.size() + 4, "another model or optimizer");
  for (std::size_t cut : {std::size_t{9}, std::size_t{20}, good.size() - 1})
    expect_error(std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)), p.size(),
                 cut < 16 ? "no size" : "truncated");
  auto longer = good;
  longer.push_back(std::byte{0});
  expect_error(longer, p.size(), "trailing bytes");
  auto flipped = good;
  flipped[checkpoint_header_bytes + 10] ^= std::byte{1};
  expect_error(flipped, p.size(), "checksum");
  auto bad_digest = good;
  bad_digest[20] ^= std::byte{1};
  expect_error(bad_digest, p.size(), "checksum");
}

TEST(CheckpointFile, MissingFileIsNotFoundAndHugeFileIsNotRead) {
  const auto dir = temp_dir();
  auto r = read_checkpoint_file(dir + "/none", 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::not_found);
  // A file far longer than the job's state is refused after reading only
  // header + state + 1 bytes.
  const auto path = dir + "/big";
  ASSERT_TRUE(write_checkpoint_file(path, payload(1 << 20)));
  auto big = read_checkpoint_file(path, 16);
  ASSERT_FALSE(big);
  EXPECT_NE(big.err().message.find("another model"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hydra
