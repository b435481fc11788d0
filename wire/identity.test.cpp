#include "wire/identity.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hydra::wire {
namespace {

namespace fs = std::filesystem;

/// A fresh empty folder, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "hydra-wire-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string str(const char* sub = nullptr) const {
    return sub ? (path_ / sub).string() : path_.string();
  }

 private:
  fs::path path_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

void write_file(const fs::path& p, const std::string& bytes, mode_t mode) {
  std::ofstream(p, std::ios::binary) << bytes;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

TEST(Identity, IdIsBlake2bOfPublicKey) {
  const identity a = generate_identity();
  EXPECT_EQ(a.id, id_of(a.pk));
  EXPECT_EQ(a.id, blake2b_256(std::as_bytes(std::span(a.pk))));
}

TEST(Identity, SignsAndVerifies) {
  const identity a = generate_identity(), b = generate_identity();
  const std::vector<std::uint8_t> msg = {1, 2, 3};
  const auto sig = sign(a, msg);
  EXPECT_TRUE(verify(a.pk, msg, sig));
  EXPECT_FALSE(verify(b.pk, msg, sig));
  EXPECT_FALSE(verify(a.pk, std::vector<std::uint8_t>{1, 2, 4}, sig));
}

TEST(Identity, CreatesKeyFileWithMode0600AndReloadsSameId) {
  temp_dir tmp;
  const std::string dir = tmp.str("state/node");  // parents created too
  auto first = load_or_create_identity(dir);
  ASSERT_TRUE(first) << first.err().message;
  EXPECT_EQ(mode_of(dir), 0700u);
  const fs::path key = fs::path(dir) / "identity.key";
  EXPECT_EQ(mode_of(key), 0600u);
  EXPECT_EQ(fs::file_size(key), 64u);
  auto again = load_or_create_identity(dir);
  ASSERT_TRUE(again) << again.err().message;
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->pk, first->pk);
  EXPECT_EQ(again->sk, first->sk);
  EXPECT_EQ(first->id, id_of(first->pk));
  // No temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Identity, TwoDirectoriesGiveDifferentIds) {
  temp_dir tmp;
  auto a = load_or_create_identity(tmp.str("a"));
  auto b = load_or_create_identity(tmp.str("b"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->id, b->id);
}

TEST(Identity, RejectsTruncatedKeyFileNamingIt) {
  temp_dir tmp;
  ASSERT_TRUE(load_or_create_identity(tmp.str()));
  const fs::path key = tmp.path() / "identity.key";
  fs::resize_file(key, 40);
  auto r = load_or_create_identity(tmp.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_input);
  EXPECT_EQ(r.err().message, key.string() +
                                 ": expected 64 bytes (an Ed25519 secret key), found 40");
  EXPECT_EQ(fs::file_size(key), 40u);  // never overwritten
}

TEST(Identity, RejectsInconsistentKeyFile) {
  temp_dir tmp;
  ASSERT_TRUE(load_or_create_identity(tmp.str()));
  const fs::path key = tmp.path() / "identity.key";
  {
    std::fstream f(key, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x55');  // inside the embedded public key
  }
  auto r = load_or_create_identity(tmp.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_input);
  EXPECT_NE(r.err().message.find(key.string() + ": inconsistent secret key"), std::string::npos)
      << r.err().message;
}

TEST(Identity, RefusesGroupReadableKeyFile) {
  temp_dir tmp;
  ASSERT_TRUE(load_or_create_identity(tmp.str()));
  const fs::path key = tmp.path() / "identity.key";
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  auto r = load_or_create_identity(tmp.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_input);
  EXPECT_NE(r.err().message.find(key.string() + ": permissions 0640 are too open"),
            std::string::npos)
      << r.err().message;
  ASSERT_EQ(::chmod(key.c_str(), 0604), 0);
  EXPECT_FALSE(load_or_create_identity(tmp.str()));
}

TEST(Identity, RejectsKeyPathThatIsNotAFile) {
  temp_dir tmp;
  fs::create_directory(tmp.path() / "identity.key");
  auto r = load_or_create_identity(tmp.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_input);
  write_file(tmp.path() / "plain", "x", 0600);
  auto file_as_dir = load_or_create_identity((tmp.path() / "plain").string());
  ASSERT_FALSE(file_as_dir);
  EXPECT_NE(file_as_dir.err().message.find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace hydra::wire
