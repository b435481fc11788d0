#include "data/idx.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace hydra::data {
namespace {

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;
using ::testing::HasSubstr;

void put32(bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(v >> s));
}

/// An IDX3 image file; pixel (i, j) of sample k is (k * 31 + j * 7) % 256.
bytes image_file(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::uint32_t magic = 0x803) {
  bytes b;
  put32(b, magic);
  put32(b, count);
  put32(b, rows);
  put32(b, cols);
  for (std::uint32_t k = 0; k < count; ++k)
    for (std::uint32_t j = 0; j < rows * cols; ++j) b.push_back(std::uint8_t((k * 31 + j * 7) % 256));
  return b;
}

/// An IDX1 label file; label k is k % 10.
bytes label_file(std::uint32_t count, std::uint32_t magic = 0x801) {
  bytes b;
  put32(b, magic);
  put32(b, count);
  for (std::uint32_t k = 0; k < count; ++k) b.push_back(std::uint8_t(k % 10));
  return b;
}

/// A fresh directory per test, removed afterwards.
class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("hydra_data_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(const std::string& name, const bytes& b) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    return path(name);
  }

  std::string write_gz(const std::string& name, const bytes& b) const {
    gzFile f = gzopen(path(name).c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (!b.empty()) {
      EXPECT_EQ(gzwrite(f, b.data(), unsigned(b.size())), int(b.size()));
    }
    EXPECT_EQ(gzclose(f), Z_OK);
    return path(name);
  }

  bytes read(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
  }

  /// Writes a valid label file next to `images` so only the images can fail.
  result<dataset> load_images(const std::string& images, std::uint32_t count = 3) {
    return load_idx(images, write("labels", label_file(count)));
  }

  fs::path dir_;
};

/// The load failed with `code` and a message naming `file` and containing `problem`.
template <class T>
void expect_error(const result<T>& r, errc code, const std::string& file, const std::string& problem) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, code) << r.err().message;
  EXPECT_THAT(r.err().message, HasSubstr(file));
  EXPECT_THAT(r.err().message, HasSubstr(problem));
}

void expect_values(const dataset& d, std::uint32_t count, int rows, int cols) {
  ASSERT_EQ(d.size(), count);
  EXPECT_EQ(d.rows, rows);
  EXPECT_EQ(d.cols, cols);
  ASSERT_EQ(d.images.size(), count * d.sample_size());
  for (std::uint32_t k = 0; k < count; ++k) {
    EXPECT_EQ(d.labels[k], k % 10);
    for (std::size_t j = 0; j < d.sample_size(); ++j)
      ASSERT_EQ(d.images[k * d.sample_size() + j], float((k * 31 + j * 7) % 256) / 255.0f);
  }
}

TEST_F(IdxTest, RoundtripsPlainFiles) {
  auto d = load_idx(write("img", image_file(12, 4, 3)), write("lbl", label_file(12)));
  ASSERT_TRUE(d.ok()) << d.err().message;
  expect_values(*d, 12, 4, 3);
}

TEST_F(IdxTest, RoundtripsGzipFilesDetectedByMagicNotName) {
  // Deliberately no ".gz" suffix on the image file and a ".gz" on a plain label file.
  auto d = load_idx(write_gz("img", image_file(12, 4, 3)), write("lbl.gz", label_file(12)));
  ASSERT_TRUE(d.ok()) << d.err().message;
  expect_values(*d, 12, 4, 3);
}

TEST_F(IdxTest, AcceptsConcatenatedGzipMembers) {
  bytes whole = image_file(5, 2, 2), a = read(write_gz("a", bytes(whole.begin(), whole.begin() + 10))),
        b = read(write_gz("b", bytes(whole.begin() + 10, whole.end())));
  a.insert(a.end(), b.begin(), b.end());
  auto d = load_images(write("img", a), 5);
  ASSERT_TRUE(d.ok()) << d.err().message;
  expect_values(*d, 5, 2, 2);
}

TEST_F(IdxTest, AcceptsEmptyDataset) {
  auto d = load_idx(write("img", image_file(0, 28, 28)), write("lbl", label_file(0)));
  ASSERT_TRUE(d.ok()) << d.err().message;
  EXPECT_EQ(d->size(), 0u);
  EXPECT_EQ(d->sample_size(), 784u);
}

TEST_F(IdxTest, ReportsMissingFileAsNotFound) {
  expect_error(load_images(path("nope")), errc::not_found, path("nope"), "cannot open");
}

TEST_F(IdxTest, ReportsDirectoryAsIoError) {
  fs::create_directory(path("sub"));
  expect_error(load_images(path("sub")), errc::io, path("sub"), "not a regular file");
}

TEST_F(IdxTest, RejectsWrongMagic) {
  bytes b = image_file(3, 2, 2);
  b[0] = 'G', b[1] = 'I', b[2] = 'F', b[3] = '8';
  expect_error(load_images(write("img", b)), errc::invalid_input, path("img"), "wrong magic number 0x47494638");
}

TEST_F(IdxTest, RejectsWrongElementType) {
  expect_error(load_images(write("img", image_file(3, 2, 2, 0x0d03))), errc::invalid_input, path("img"),
               "unsupported element type");
}

TEST_F(IdxTest, RejectsWrongDimensionCount) {
  // A label file where the images belong (a classic argument swap).
  const std::string lbl = write("lbl", label_file(3));
  expect_error(load_idx(lbl, lbl), errc::invalid_input, lbl, "wrong dimension count 1, expected 3");
  const std::string img = write("img", image_file(3, 2, 2));
  expect_error(load_idx(img, img), errc::invalid_input, img, "wrong dimension count 3, expected 1");
}

TEST_F(IdxTest, RejectsCountMismatch) {
  const std::string img = write("img", image_file(4, 2, 2)), lbl = write("lbl", label_file(3));
  auto r = load_idx(img, lbl);
  expect_error(r, errc::invalid_input, lbl, "count mismatch: holds 3 labels");
  EXPECT_THAT(r.err().message, HasSubstr(img + " holds 4 images"));
}

TEST_F(IdxTest, RejectsTruncatedHeader) {
  bytes b = image_file(3, 2, 2);
  b.resize(7);
  expect_error(load_images(write("img", b)), errc::invalid_input, path("img"),
               "truncated: header needs 16 bytes, file holds 7");
  expect_error(load_images(write("empty", {})), errc::invalid_input, path("empty"),
               "truncated: header needs 16 bytes, file holds 0");
}

TEST_F(IdxTest, RejectsShortPlainData) {
  bytes b = label_file(60);
  b.resize(b.size() - 5);
  expect_error(load_idx(write("img", image_file(60, 1, 1)), write("lbl", b)), errc::invalid_input, path("lbl"),
               "truncated: header declares 60 labels, file holds 55");
}

TEST_F(IdxTest, RejectsTrailingGarbagePlain) {
  bytes b = image_file(3, 2, 2);
  b.insert(b.end(), {1, 2, 3});
  expect_error(load_images(write("img", b)), errc::invalid_input, path("img"),
               "trailing garbage: 3 bytes after the declared 3 images");
}

TEST_F(IdxTest, RejectsTrailingGarbageInsideGzip) {
  bytes b = image_file(3, 2, 2);
  b.insert(b.end(), {1, 2, 3});
  expect_error(load_images(write_gz("img.gz", b)), errc::invalid_input, path("img.gz"),
               "trailing garbage: 3 bytes after the declared 3 images");
}

TEST_F(IdxTest, RejectsTrailingGarbageAfterGzipStream) {
  bytes b = read(write_gz("tmp", image_file(3, 2, 2)));
  b.insert(b.end(), {'x', 'y', 'z'});
  expect_error(load_images(write("img.gz", b)), errc::invalid_input, path("img.gz"),
               "trailing garbage after the gzip stream");
}

TEST_F(IdxTest, RejectsTruncatedGzipData) {
  bytes big = label_file(5000);
  for (std::size_t i = 8; i < big.size(); ++i) big[i] = std::uint8_t((i * 2654435761u >> 13) % 10);
  bytes gz = read(write_gz("tmp", big));
  gz.resize(gz.size() / 2);
  auto r = load_idx(write("img", image_file(5000, 1, 1)), write("lbl.gz", gz));
  expect_error(r, errc::invalid_input, path("lbl.gz"), "truncated: header declares 5000 labels, file holds ");
  EXPECT_THAT(r.err().message, HasSubstr("gzip stream ends early"));
}

TEST_F(IdxTest, RejectsGzipMissingItsTrailer) {
  bytes gz = read(write_gz("tmp", image_file(3, 2, 2)));
  gz.resize(gz.size() - 4);  // drop ISIZE: all data present, end unverifiable
  expect_error(load_images(write("img.gz", gz)), errc::invalid_input, path("img.gz"), "truncated gzip stream");
}

TEST_F(IdxTest, RejectsTruncatedGzipHeader) {
  bytes gz = read(write_gz("tmp", image_file(3, 2, 2)));
  gz.resize(5);
  expect_error(load_images(write("img.gz", gz)), errc::invalid_input, path("img.gz"),
               "truncated: header needs 16 bytes, file holds 0 (the gzip stream ends early)");
}

TEST_F(IdxTest, RejectsCorruptGzipBlock) {
  bytes gz = read(write_gz("tmp", image_file(3, 2, 2)));
  gz[10] |= 0x06;  // first deflate block type 3, which is reserved
  expect_error(load_images(write("img.gz", gz)), errc::invalid_input, path("img.gz"),
               "corrupt gzip data: invalid block type");
}

TEST_F(IdxTest, RejectsCorruptGzipChecksum) {
  bytes gz = read(write_gz("tmp", image_file(3, 2, 2)));
  gz[gz.size() - 8] ^= 0xff;  // CRC-32 of the trailer
  expect_error(load_images(write("img.gz", gz)), errc::invalid_input, path("img.gz"),
               "corrupt gzip data: incorrect data check");
}

TEST_F(IdxTest, RejectsLabelOutOfRange) {
  bytes b = label_file(3);
  b[8 + 2] = 12;
  expect_error(load_idx(write("img", image_file(3, 2, 2)), write("lbl", b)), errc::invalid_input, path("lbl"),
               "label 12 at index 2 is >= num_classes 10");
}

TEST_F(IdxTest, RejectsAbsurdDimensionsBeforeAllocating) {
  bytes b = image_file(0, 28, 28);
  b[4] = b[5] = b[6] = b[7] = 0xff;  // 4294967295 images
  expect_error(load_images(write("huge", b)), errc::invalid_input, path("huge"),
               "absurd dimensions: header declares 4294967295 x 28 x 28");
  bytes wide = image_file(0, 0xffffffffu, 0xffffffffu);  // no payload, but ~2^64 bytes per sample
  expect_error(load_images(write("wide", wide)), errc::invalid_input, path("wide"), "absurd dimensions");
  expect_error(load_images(write("zero", image_file(3, 0, 28))), errc::invalid_input, path("zero"),
               "rows and cols must be positive");
}

TEST_F(IdxTest, RejectsClaimsTheFileCannotHold) {
  bytes b = image_file(2, 28, 28);
  b[4] = 0x00, b[5] = 0x01, b[6] = b[7] = 0x00;  // 65536 images of 784 bytes (under the limit), file holds 2
  expect_error(load_images(write("img", b)), errc::invalid_input, path("img"),
               "truncated: header declares 65536 images, file holds 2");
  expect_error(load_images(write_gz("img.gz", b)), errc::invalid_input, path("img.gz"), "gzip file can hold");
}

TEST_F(IdxTest, LoadsDirWithEitherSpelling) {
  write_gz("train-images-idx3-ubyte.gz", image_file(20, 3, 3));
  write("train-labels.idx1-ubyte", label_file(20));
  write("t10k-images.idx3-ubyte.gz", image_file(5, 3, 3));
  write_gz("t10k-labels-idx1-ubyte.gz", label_file(5));
  auto s = load_dir(dir_.string());
  ASSERT_TRUE(s.ok()) << s.err().message;
  expect_values(s->train, 20, 3, 3);
  expect_values(s->test, 5, 3, 3);
}

TEST_F(IdxTest, LoadDirNamesTheMissingFile) {
  write("train-images-idx3-ubyte", image_file(2, 1, 1));
  write("train-labels-idx1-ubyte", label_file(2));
  write("t10k-images-idx3-ubyte", image_file(2, 1, 1));
  expect_error(load_dir(dir_.string()), errc::not_found, dir_.string(), "missing t10k-labels-idx1-ubyte[.gz]");
  expect_error(load_dir(path("absent")), errc::not_found, path("absent"), "no such directory");
}

TEST_F(IdxTest, LoadDirPassesFileErrorsThrough) {
  write("train-images-idx3-ubyte", image_file(2, 1, 1));
  write("train-labels-idx1-ubyte", label_file(3));
  write("t10k-images-idx3-ubyte", image_file(2, 1, 1));
  write("t10k-labels-idx1-ubyte", label_file(2));
  expect_error(load_dir(dir_.string()), errc::invalid_input, path("train-labels-idx1-ubyte"), "count mismatch");
}

TEST(Idx, LoadsRealFashionMnist) {
  std::error_code ec;
  if (!fs::is_directory(default_data_dir(), ec)) GTEST_SKIP() << default_data_dir() << " is absent";
  auto s = load_dir(default_data_dir());
  ASSERT_TRUE(s.ok()) << s.err().message;
  for (const dataset* d : {&s->train, &s->test}) {
    EXPECT_EQ(d->rows, 28);
    EXPECT_EQ(d->cols, 28);
    EXPECT_EQ(d->images.size(), d->size() * 784);
    int seen[10] = {};
    for (auto l : d->labels) {
      ASSERT_LT(l, 10);
      ++seen[l];
    }
    for (int c : seen) EXPECT_GT(c, 0);
    for (float p : d->images) ASSERT_TRUE(p >= 0.0f && p <= 1.0f);
  }
  EXPECT_EQ(s->train.size(), 60000u);
  EXPECT_EQ(s->test.size(), 10000u);
}

}  // namespace
}  // namespace hydra::data
