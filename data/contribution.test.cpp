#include "data/contribution.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

namespace hydra::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using files = std::vector<contribution_file>;

constexpr std::size_t px = 28 * 28;

/// `count` 28x28 samples; pixel j of sample k is (k * 31 + j * 7) % 256, label k % 10.
dataset sample_data(std::size_t count) {
  dataset d;
  d.rows = d.cols = 28;
  for (std::size_t k = 0; k < count; ++k) {
    d.labels.push_back(std::uint8_t(k % 10));
    for (std::size_t j = 0; j < px; ++j) d.images.push_back(float((k * 31 + j * 7) % 256) / 255.0f);
  }
  return d;
}

/// Samples [from, to) of `d` as their own dataset.
dataset slice(const dataset& d, std::size_t from, std::size_t to) {
  dataset s = d;
  s.labels.assign(d.labels.begin() + long(from), d.labels.begin() + long(to));
  s.images.assign(d.images.begin() + long(from * px), d.images.begin() + long(to * px));
  return s;
}

void expect_same(const dataset& got, const dataset& want) {
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.cols, want.cols);
  EXPECT_EQ(got.num_classes, want.num_classes);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.images, want.images);  // exact: both are byte / 255.0f
}

std::string gzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, uLong(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Expects an invalid_input error whose message contains `fragment`.
template <class T>
void expect_error(const result<T>& r, const std::string& fragment, errc code = errc::invalid_input) {
  ASSERT_FALSE(r) << "expected an error containing: " << fragment;
  EXPECT_EQ(r.err().code, code) << r.err().message;
  EXPECT_THAT(r.err().message, HasSubstr(fragment));
}

// ---------------------------------------------------------------- CSV

std::string csv_row(int label, const std::vector<int>& pixels) {
  std::string s = std::to_string(label);
  for (int p : pixels) s.append(",").append(std::to_string(p));
  return s;
}

/// A header line and `rows` valid data lines (pixel j of line k: (k + j) % 256, label k % 10).
std::vector<std::string> csv_lines(int rows) {
  std::vector<std::string> lines = {"label,pixels..."};
  for (int k = 0; k < rows; ++k) {
    std::vector<int> p(px);
    for (std::size_t j = 0; j < px; ++j) p[j] = int((k + j) % 256);
    lines.push_back(csv_row(k % 10, p));
  }
  return lines;
}

std::string join(const std::vector<std::string>& lines, const char* eol = "\n") {
  std::string s;
  for (const auto& l : lines) s += l + eol;
  return s;
}

result<dataset> parse_csv(const std::string& text, const contribution_limits& lim = {}) {
  return parse_contribution("csv", {{"digits.csv", text}}, lim);
}

TEST(Contribution, CsvRoundTrip) {
  const dataset d = sample_data(37);
  auto r = parse_csv(to_csv(d, 0, d.size()));
  ASSERT_TRUE(r) << r.err().message;
  expect_same(*r, d);
}

TEST(Contribution, CsvRoundTripOfARange) {
  const dataset d = sample_data(20);
  auto r = parse_csv(to_csv(d, 5, 12));
  ASSERT_TRUE(r) << r.err().message;
  expect_same(*r, slice(d, 5, 12));
}

TEST(Contribution, CsvAcceptsCrlfBlankLinesAndNoHeader) {
  auto lines = csv_lines(3);
  lines.erase(lines.begin());  // no header
  lines.insert(lines.begin() + 1, "");
  lines.push_back("   ");
  auto r = parse_csv("\xEF\xBB\xBF" + join(lines, "\r\n"));
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->labels, (std::vector<std::uint8_t>{0, 1, 2}));
  EXPECT_EQ(r->images[px + 5], 6.0f / 255.0f);  // line 2, pixel 5: (1 + 5) % 256
}

TEST(Contribution, CsvWrongPixelCountNamesTheLine) {
  auto lines = csv_lines(20);
  lines[16].erase(lines[16].rfind(','));  // line 17: one value short
  expect_error(parse_csv(join(lines)), "digits.csv line 17: 783 pixel values, expected 784");
}

TEST(Contribution, CsvRejectsBadValues) {
  struct bad_case {
    std::string line, fragment;
  };
  std::vector<int> ok(px, 0);
  auto with = [&](std::size_t at, const std::string& value) {
    std::string row = "3";
    for (std::size_t j = 0; j < px; ++j) row.append(",").append(j == at ? value : "0");
    return row;
  };
  std::string bad_label = csv_row(1, ok);
  bad_label[0] = 'x';
  const std::vector<bad_case> cases = {
      {with(5, "300"), "line 4: pixel 5 is 300, outside 0..255"},
      {with(0, "-1"), "line 4: pixel 0 is -1, outside 0..255"},
      {with(7, "abc"), "line 4: pixel 7 'abc' is not an integer"},
      {with(7, "1.5"), "line 4: pixel 7 '1.5' is not an integer"},
      {with(7, ""), "line 4: pixel 7 '' is not an integer"},
      {csv_row(10, ok), "line 4: label 10 is not in 0..9"},
      {bad_label, "line 4: label 'x' is not an integer"},
      {"1;2;3;4", "line 4: 0 pixel values, expected 784"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    auto lines = csv_lines(2);
    lines.push_back(c.line);
    expect_error(parse_csv(join(lines)), "digits.csv " + c.fragment);
  }
}

TEST(Contribution, CsvNeedsExactlyOneFileAndSomeSamples) {
  const std::string text = join(csv_lines(2));
  expect_error(parse_contribution("csv", {{"a.csv", text}, {"b.csv", text}}), "exactly one file, got 2");
  expect_error(parse_csv("label,p0\n\n"), "no samples");
}

// ---------------------------------------------------------------- IDX

TEST(Contribution, IdxRoundTrip) {
  const dataset d = sample_data(30);
  const contribution_bundle b = to_idx_bundle(d, 3, 20);
  EXPECT_EQ(b.format, "idx");
  auto r = parse_contribution(b.format, b.files);
  ASSERT_TRUE(r) << r.err().message;
  expect_same(*r, slice(d, 3, 20));
}

TEST(Contribution, IdxAcceptsGzipInEitherOrderWhateverTheNames) {
  const dataset d = sample_data(12);
  const contribution_bundle b = to_idx_bundle(d, 0, 12);
  // Labels first, under misleading names: which is which comes from the magic.
  const files f = {{"images.gz", gzip(b.files[1].bytes)}, {"labels", gzip(b.files[0].bytes)}};
  auto r = parse_contribution("idx", f);
  ASSERT_TRUE(r) << r.err().message;
  expect_same(*r, d);
  auto mixed = parse_contribution("idx", {b.files[0], {"l.gz", gzip(b.files[1].bytes)}});
  ASSERT_TRUE(mixed) << mixed.err().message;
  expect_same(*mixed, d);
}

std::string be32(std::uint32_t v) {
  std::string s;
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(char(std::uint8_t(v >> sh)));
  return s;
}

TEST(Contribution, IdxRejectsMalformedInput) {
  const contribution_bundle b = to_idx_bundle(sample_data(8), 0, 8);
  const contribution_file& im = b.files[0];
  const contribution_file& lb = b.files[1];
  auto labels_with = [&](std::size_t at, char v) {
    contribution_file f = lb;
    f.bytes[8 + at] = v;
    return f;
  };
  const std::string im32 = be32(0x803) + be32(2) + be32(32) + be32(32) + std::string(2 * 32 * 32, '\0');
  struct bad_case {
    files f;
    std::string fragment;
  };
  const std::vector<bad_case> cases = {
      {{im, labels_with(5, 12)}, "contribution-labels-idx1-ubyte: label 12 at sample 5 is not below 10"},
      {{im, {"l", lb.bytes.substr(0, lb.bytes.size() - 1)}}, "l: truncated: header declares 8 labels, file holds 7"},
      {{im, {"l", be32(0x801) + be32(7) + std::string(7, '\1')}},
       "l: 7 labels but contribution-images-idx3-ubyte holds 8 images"},
      {{{"i", im.bytes.substr(0, im.bytes.size() - 10)}, lb}, "i: truncated: header declares 8 images, file holds 7"},
      {{{"i", im.bytes + "xyz"}, lb}, "i: trailing data after the declared 8 images"},
      {{{"i", im32}, lb}, "i: 32x32 images, expected 28x28"},
      {{im, im}, "got two image files"},
      {{lb, lb}, "got two label files"},
      {{im, lb, lb}, "exactly two files"},
      {{im}, "exactly two files"},
      {{im, {"l", "hello world"}}, "l: not an IDX file"},
      {{im, {"l", be32(0x802) + be32(8) + be32(1)}}, "l: IDX file with 2 dimensions"},
      {{im, {"l", be32(0x0901) + be32(8)}}, "l: unsupported IDX element type"},
      {{im, {"l", std::string(2, '\0')}}, "l: truncated: 2 bytes, too short"},
      {{im, {"l", std::string("\x1f\x8b", 2) + "not deflate at all"}}, "l: corrupt gzip data"},
      {{{"i.gz", gzip(im.bytes).substr(0, gzip(im.bytes).size() / 2)}, lb},
       "i.gz: truncated: header declares 8 images, file holds"},
      {{{"i.gz", gzip(im.bytes).substr(0, gzip(im.bytes).size() - 4)}, lb},
       "i.gz: the gzip stream ends before its trailer"},
      {{im, {"l.gz", gzip(lb.bytes) + "junk"}}, "l.gz: trailing garbage after the gzip stream"},
      {{{"i", be32(0x803) + be32(0) + be32(28) + be32(28)}, {"l", be32(0x801) + be32(0)}}, "no samples"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    expect_error(parse_contribution("idx", c.f), c.fragment);
  }
}

// ---------------------------------------------------------------- PGM

std::string p5(int w, int h, int maxval, std::uint8_t value, const std::string& header_extra = "") {
  return "P5\n" + header_extra + std::to_string(w) + " " + std::to_string(h) + "\n" + std::to_string(maxval) + "\n" +
         std::string(std::size_t(w) * h, char(value));
}

std::string p2(int w, int h, int maxval, int value) {
  std::string s =
      "P2\n# made by a test\n" + std::to_string(w) + " " + std::to_string(h) + "\n" + std::to_string(maxval) + "\n";
  for (int i = 0; i < w * h; ++i) s += std::to_string(value) + (i % 28 == 27 ? "\n" : " ");
  return s;
}

TEST(Contribution, PgmBinaryAndAsciiWithScaling) {
  const files f = {{"3/a.pgm", p5(28, 28, 255, 200, "# comment line\n")},
                   {"7/b.pgm", p2(28, 28, 15, 5)},
                   {"0/sub/c.PGM", p5(28, 28, 1, 1)}};
  auto r = parse_contribution("pgm", f);
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->labels, (std::vector<std::uint8_t>{3, 7, 0}));
  EXPECT_EQ(r->images[0], 200.0f / 255.0f);
  EXPECT_EQ(r->images[px + 100], 85.0f / 255.0f);  // 5 of 15 -> 85 of 255
  EXPECT_EQ(r->images[2 * px + 783], 1.0f);
  EXPECT_EQ(r->rows, 28);
  EXPECT_EQ(r->cols, 28);
}

TEST(Contribution, PgmRejectsMalformedInput) {
  const std::string good = p5(28, 28, 255, 9);
  struct bad_case {
    contribution_file f;
    std::string fragment;
  };
  const std::vector<bad_case> cases = {
      {{"3/a.pgm", p5(32, 32, 255, 9)}, "3/a.pgm: 32x32 image, expected 28x28"},
      {{"3/a.pgm", "P6\n28 28\n255\n" + std::string(3 * px, '\0')}, "3/a.pgm: bad PGM header: not a PGM file"},
      {{"3/a.pgm", "P5\n28 28\n"}, "3/a.pgm: bad PGM header: expected width, height and maxval"},
      {{"3/a.pgm", "P5\n28 x8\n255\n"}, "3/a.pgm: bad PGM header"},
      {{"3/a.pgm", "P5\n28 28\n65535\n" + std::string(2 * px, '\0')}, "maxval 65535 is not in 1..255"},
      {{"3/a.pgm", "P5\n28 28\n0\n"}, "maxval 0 is not in 1..255"},
      {{"3/a.pgm", good.substr(0, good.size() - 284)}, "3/a.pgm: truncated: 500 of 784 pixel bytes"},
      {{"3/a.pgm", p2(28, 28, 255, 9).substr(0, 40)}, "3/a.pgm: truncated:"},
      {{"3/a.pgm", p2(28, 28, 4, 5)}, "3/a.pgm: pixel 0 is 5, above maxval 4"},
      {{"3/a.pgm", good + "extra"}, "3/a.pgm: trailing data after the 784 pixels"},
      {{"12/a.pgm", good}, "12/a.pgm: label 12 is not below 10"},
      {{"a.pgm", good}, "a.pgm: expected a name '<label>/<file>.pgm'"},
      {{"x/a.pgm", good}, "x/a.pgm: expected a name"},
      {{"3/a.png", good}, "3/a.png: expected a name"},
      {{"3/.pgm", good}, "3/.pgm: expected a name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    expect_error(parse_contribution("pgm", {{"1/ok.pgm", good}, c.f}), c.fragment);
  }
}

// ---------------------------------------------------------------- limits

TEST(Contribution, RejectsUnknownFormatAndEmptyContribution) {
  expect_error(parse_contribution("xls", {{"a.xls", "1,2"}}), "unknown format 'xls'");
  expect_error(parse_contribution("csv", {}), "empty contribution");
  expect_error(parse_contribution("pgm", {}), "empty contribution");
}

TEST(Contribution, RejectsTooManySamplesInEveryFormat) {
  contribution_limits lim;
  lim.max_samples = 10;
  const dataset d = sample_data(20);
  const std::string fragment = "contribution of 20 samples exceeds the limit of 10";
  expect_error(parse_csv(to_csv(d, 0, 20), lim), fragment);
  const contribution_bundle b = to_idx_bundle(d, 0, 20);
  expect_error(parse_contribution("idx", b.files, lim), fragment);
  files pgms(20, contribution_file{"1/a.pgm", p5(28, 28, 255, 0)});
  expect_error(parse_contribution("pgm", pgms, lim), fragment);
  lim.max_samples = 20;
  EXPECT_TRUE(parse_contribution("pgm", pgms, lim));
}

TEST(Contribution, RejectsTooManyBytesBeforeParsing) {
  contribution_limits lim;
  lim.max_bytes = 1000;
  // Garbage in an unknown format: the size is what is reported.
  expect_error(parse_contribution("xls", {{"a", std::string(600, 'x')}, {"b", std::string(401, 'y')}}, lim),
               "contribution of 1001 bytes exceeds the limit of 1000 bytes");
  EXPECT_THAT(parse_contribution("xls", {{"a", std::string(1000, 'x')}}, lim).err().message,
              HasSubstr("unknown format"));
}

// ---------------------------------------------------------------- reading from disk

class ReadContribution : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("hydra_contrib_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) const {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return p.string();
  }
  std::string path(const std::string& name = "") const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(ReadContribution, CsvFile) {
  const dataset d = sample_data(5);
  const std::string p = write("mine.CSV", to_csv(d, 0, 5));
  auto b = read_contribution(p);
  ASSERT_TRUE(b) << b.err().message;
  EXPECT_EQ(b->format, "csv");
  ASSERT_EQ(b->files.size(), 1u);
  EXPECT_EQ(b->files[0].name, "mine.CSV");
  auto r = parse_contribution(b->format, b->files);
  ASSERT_TRUE(r) << r.err().message;
  expect_same(*r, d);
}

TEST_F(ReadContribution, PgmDirectory) {
  write("pgms/3/b.pgm", p5(28, 28, 255, 30));
  write("pgms/3/a.pgm", p5(28, 28, 255, 20));
  write("pgms/0/z.pgm", p2(28, 28, 255, 10));
  write("pgms/3/notes.txt", "ignored");
  write("pgms/README", "ignored");
  auto b = read_contribution(path("pgms"));
  ASSERT_TRUE(b) << b.err().message;
  EXPECT_EQ(b->format, "pgm");
  std::vector<std::string> names;
  for (const auto& f : b->files) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0/z.pgm", "3/a.pgm", "3/b.pgm"}));
  auto r = parse_contribution(b->format, b->files);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->labels, (std::vector<std::uint8_t>{0, 3, 3}));
  EXPECT_EQ(r->images[px], 20.0f / 255.0f);
}

TEST_F(ReadContribution, IdxDirectoryAndPair) {
  const dataset d = sample_data(9);
  const contribution_bundle src = to_idx_bundle(d, 0, 9);
  const std::string im = write("idx/my-images-idx3-ubyte.gz", gzip(src.files[0].bytes));
  const std::string lb = write("idx/my-labels-idx1-ubyte", src.files[1].bytes);
  write("idx/notes.txt", "not IDX");
  for (const auto& b : {read_contribution(path("idx")), read_contribution(std::vector<std::string>{lb, im})}) {
    ASSERT_TRUE(b) << b.err().message;
    EXPECT_EQ(b->format, "idx");
    ASSERT_EQ(b->files.size(), 2u);
    EXPECT_EQ(b->files[0].name, "my-images-idx3-ubyte.gz");
    EXPECT_EQ(b->files[1].name, "my-labels-idx1-ubyte");
    auto r = parse_contribution(b->format, b->files);
    ASSERT_TRUE(r) << r.err().message;
    expect_same(*r, d);
  }
}

TEST_F(ReadContribution, ErrorsNameThePath) {
  const contribution_bundle src = to_idx_bundle(sample_data(3), 0, 3);
  const std::string im = write("one/images-idx3-ubyte", src.files[0].bytes);
  expect_error(read_contribution(im), im + ": an IDX file alone is not a contribution: also give its labels file");
  const std::string gz = write("two/labels-idx1-ubyte.gz", gzip(src.files[1].bytes));
  expect_error(read_contribution(gz), gz + ": an IDX file alone is not a contribution: also give its images file");
  expect_error(read_contribution(path("missing")), path("missing") + ": no such file", errc::not_found);
  write("empty/readme.txt", "hello");
  expect_error(read_contribution(path("empty")), path("empty") + ": no contribution found");
  expect_error(read_contribution(write("x.txt", "hello")), path("x.txt") + ": unrecognised contribution");
  write("many/a-images-idx3-ubyte", src.files[0].bytes);
  write("many/b-images-idx3-ubyte", src.files[0].bytes);
  write("many/labels-idx1-ubyte", src.files[1].bytes);
  expect_error(read_contribution(path("many")),
               "found 2 image file(s) (a-images-idx3-ubyte, b-images-idx3-ubyte) and 1 label file(s)");
  expect_error(read_contribution(std::vector<std::string>{im, im}), "found 2 image file(s)");
}

TEST_F(ReadContribution, EnforcesLimitsWhileReading) {
  contribution_limits lim;
  lim.max_bytes = 5000;
  const std::string big = write("big.csv", std::string(6000, '1'));
  expect_error(read_contribution(big, lim), big + ": contribution of at least 6000 bytes exceeds the limit of 5000");
  // The total counts: each PGM file fits, all of them do not (7 x 800 bytes).
  for (int i = 0; i < 7; ++i) write("pgms/1/" + std::to_string(i) + ".pgm", p5(28, 28, 255, 1));
  expect_error(read_contribution(path("pgms"), lim), "exceeds the limit of 5000 bytes");
  lim.max_bytes = 1 << 20;
  lim.max_samples = 6;
  expect_error(read_contribution(path("pgms"), lim),
               path("pgms") + ": contribution of 7 samples exceeds the limit of 6");
  lim.max_samples = 7;
  EXPECT_TRUE(read_contribution(path("pgms"), lim));
}

// ---------------------------------------------------------------- dedup_index

/// Pixel values of one sample as floats.
std::vector<float> image_of(const dataset& d, std::size_t k) {
  return {d.images.begin() + long(k * d.sample_size()), d.images.begin() + long((k + 1) * d.sample_size())};
}

/// Adds +8 or -8 levels (random sign) to every pixel, clamped to 0..255.
std::vector<float> with_noise(std::vector<float> img, std::mt19937& rng, int levels = 8) {
  for (float& v : img) {
    const int q = int(std::lround(v * 255.0f)) + (rng() & 1 ? levels : -levels);
    v = float(std::clamp(q, 0, 255)) / 255.0f;
  }
  return img;
}

/// Replaces `count` random pixels by random values.
std::vector<float> with_changed_pixels(std::vector<float> img, std::mt19937& rng, int count) {
  for (int i = 0; i < count; ++i) img[rng() % img.size()] = float(rng() % 256) / 255.0f;
  return img;
}

/// A smooth synthetic image: a bright disc of radius r at (cx, cy).
std::vector<float> disc(double cx, double cy, double r) {
  std::vector<float> img(px);
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) img[y * 28 + x] = std::hypot(x - cx, y - cy) < r ? 0.8f : 0.05f;
  return img;
}

TEST(DedupIndex, ExactNearAndUnique) {
  dedup_index ix;
  std::mt19937 rng(7);
  const auto a = disc(10, 10, 6), b = disc(18, 17, 5);
  EXPECT_EQ(ix.check(a), dup_kind::unique);
  ix.add(a);
  EXPECT_EQ(ix.size(), 1u);
  EXPECT_EQ(ix.check(a), dup_kind::exact);
  EXPECT_EQ(ix.check(with_noise(a, rng)), dup_kind::near);
  EXPECT_EQ(ix.check(with_changed_pixels(a, rng, 10)), dup_kind::near);
  EXPECT_EQ(ix.check(b), dup_kind::unique);
  EXPECT_EQ(ix.check(disc(10, 10, 8)), dup_kind::unique);  // same place, clearly bigger
  ix.add(b);
  EXPECT_EQ(ix.size(), 2u);
  EXPECT_EQ(ix.check(b), dup_kind::exact);
}

TEST(DedupIndex, ExactIsOnQuantizedPixels) {
  dedup_index ix;
  auto a = disc(14, 14, 7);
  ix.add(a);
  for (float& v : a) v += 0.0004f;  // well under half a level: same uint8 pixels
  EXPECT_EQ(ix.check(a), dup_kind::exact);
}

TEST(DedupIndex, FashionMnistLookAlikesAreNotFlaggedButNoisyCopiesAre) {
  auto s = load_dir(default_data_dir());
  if (!s) GTEST_SKIP() << "no Fashion-MNIST: " << s.err().message;
  const dataset& d = s->train;
  ASSERT_GE(d.size(), 25000u);
  dedup_index ix;
  for (std::size_t k = 0; k < 20000; ++k) ix.add(image_of(d, k));
  std::size_t flagged = 0, exact = 0;
  for (std::size_t k = 20000; k < 25000; ++k) {
    const dup_kind r = ix.check(image_of(d, k));
    flagged += r != dup_kind::unique;
    exact += r == dup_kind::exact;
  }
  std::mt19937 rng(42);
  std::size_t noisy = 0, changed = 0;
  for (std::size_t i = 0; i < 500; ++i) {
    const auto img = image_of(d, i * 40);
    noisy += ix.check(with_noise(img, rng)) != dup_kind::unique;
    changed += ix.check(with_changed_pixels(img, rng, 20)) != dup_kind::unique;
  }
  std::printf(
      "[ measured ] distinct images flagged: %zu of 5000 (%.2f%%, %zu exact); noisy copies flagged: "
      "%zu of 500; copies with 20 changed pixels flagged: %zu of 500\n",
      flagged, 100.0 * double(flagged) / 5000, exact, noisy, changed);
  EXPECT_LE(flagged, 50u);  // at most 1%
  EXPECT_EQ(noisy, 500u);
  EXPECT_EQ(changed, 500u);
}

}  // namespace
}  // namespace hydra::data
