#include "data/contribution.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <optional>
#include <string_view>

namespace hydra::data {
namespace {

namespace fs = std::filesystem;
using std::string_view;

std::string num(std::uint64_t v) { return std::to_string(v); }

error bad(std::string msg) { return make_error(errc::invalid_input, std::move(msg)); }

error too_many_samples(std::uint64_t n, const contribution_limits& lim) {
  return bad("contribution of " + num(n) + " samples exceeds the limit of " + num(lim.max_samples));
}

std::string shape(std::uint64_t cols, std::uint64_t rows) { return num(cols) + "x" + num(rows); }

status check_limits(const contribution_limits& lim) {
  if (lim.rows <= 0 || lim.cols <= 0 || lim.num_classes <= 0 || lim.num_classes > 256 ||
      std::uint64_t(lim.rows) * std::uint64_t(lim.cols) > (1u << 24))
    return bad("invalid contribution limits: " + shape(lim.cols, lim.rows) + " images, " +
               std::to_string(lim.num_classes) + " classes");
  return {};
}

/// Appends a label and rows*cols quantized pixels (0..255) to `d`.
void append(dataset& d, std::uint8_t label, const std::uint8_t* px, std::size_t n) {
  d.labels.push_back(label);
  for (std::size_t i = 0; i < n; ++i) d.images.push_back(float(px[i]) / 255.0f);
}

dataset empty_dataset(const contribution_limits& lim, std::size_t reserve) {
  dataset d;
  d.rows = lim.rows;
  d.cols = lim.cols;
  d.num_classes = lim.num_classes;
  d.labels.reserve(reserve);
  d.images.reserve(reserve * d.sample_size());
  return d;
}

// ---------------------------------------------------------------- gzip / IDX

bool is_gzip(string_view b) { return b.size() >= 2 && std::uint8_t(b[0]) == 0x1f && std::uint8_t(b[1]) == 0x8b; }

std::uint32_t be32(string_view b, std::size_t at) {
  auto u = [&](std::size_t i) { return std::uint32_t(std::uint8_t(b[at + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

/// Output of gunzip(): at most cap + 1 bytes (cap + 1 means "there is more").
struct inflated {
  std::string bytes;
  bool complete = false;  ///< every member ended with a valid trailer
};

/// Inflates gzip data held in memory (concatenated members allowed) into at
/// most cap + 1 bytes, so a bomb costs no more than the caller allows.
result<inflated> gunzip(string_view in, std::size_t cap, const std::string& name) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return make_error(errc::internal, name + ": cannot initialise zlib");
  inflated out;
  out.bytes.resize(cap + 1);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.bytes.data());
  z.avail_out = static_cast<uInt>(out.bytes.size());
  std::optional<error> failure;
  while (z.avail_out > 0) {
    const int rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) {
        out.complete = true;
        break;
      }
      if (!is_gzip(string_view(reinterpret_cast<const char*>(z.next_in), z.avail_in))) {
        failure = bad(name + ": trailing garbage after the gzip stream");
        break;
      }
      inflateReset(&z);
    } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      failure = bad(name + ": corrupt gzip data: " + (z.msg ? z.msg : "invalid stream"));
      break;
    } else if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0)) {
      break;  // input ended early: truncated; the caller words it
    } else if (rc != Z_OK) {
      failure = make_error(errc::internal, name + ": zlib inflate failed with code " + std::to_string(rc));
      break;
    }
  }
  out.bytes.resize(out.bytes.size() - z.avail_out);
  inflateEnd(&z);
  if (failure) return *failure;
  return out;
}

/// An IDX ubyte file's header, read from its first bytes.
struct idx_header {
  int dims = 0;  ///< 1 (labels) or 3 (images)
  std::uint32_t count = 0, rows = 1, cols = 1;
  std::size_t bytes() const { return 4 + 4 * std::size_t(dims); }
  std::uint64_t payload() const { return std::uint64_t(count) * rows * cols; }
};

/// The first `n` bytes of a plain or gzip file (fewer if it is shorter).
result<std::string> head(string_view b, std::size_t n, const std::string& name) {
  if (!is_gzip(b)) return std::string(b.substr(0, n));
  auto z = gunzip(b, n, name);
  if (!z) return z.err();
  z->bytes.resize(std::min(z->bytes.size(), n));
  return std::move(z->bytes);
}

/// 1 or 3 when `h` starts like an IDX1/IDX3 ubyte file, else 0.
int idx_dims(string_view h) {
  if (h.size() < 4 || h[0] != 0 || h[1] != 0 || h[2] != 0x08) return 0;
  return h[3] == 1 || h[3] == 3 ? h[3] : 0;
}

result<idx_header> read_idx_header(const contribution_file& f) {
  auto h = head(f.bytes, 16, f.name);
  if (!h) return h.err();
  if (h->size() < 4) return bad(f.name + ": truncated: " + num(h->size()) + " bytes, too short for an IDX header");
  if ((*h)[0] != 0 || (*h)[1] != 0) return bad(f.name + ": not an IDX file (wrong magic number)");
  if ((*h)[2] != 0x08) return bad(f.name + ": unsupported IDX element type (expected 0x08, unsigned byte)");
  idx_header r;
  r.dims = idx_dims(*h);
  if (r.dims == 0)
    return bad(f.name + ": IDX file with " + num(std::uint8_t((*h)[3])) +
               " dimensions, expected an IDX3 image file or an IDX1 label file");
  if (h->size() < r.bytes()) return bad(f.name + ": truncated IDX header");
  r.count = be32(*h, 4);
  if (r.dims == 3) r.rows = be32(*h, 8), r.cols = be32(*h, 12);
  return r;
}

/// The payload of an IDX file whose header has been checked against the limits.
result<std::string> read_idx_payload(const contribution_file& f, const idx_header& h, const char* items) {
  const std::size_t want = h.bytes() + h.payload();
  std::string all;
  bool complete = true;
  if (is_gzip(f.bytes)) {
    auto z = gunzip(f.bytes, want, f.name);
    if (!z) return z.err();
    all = std::move(z->bytes);
    complete = z->complete;
  } else {
    all = f.bytes;
  }
  const std::size_t sample = std::size_t(h.rows) * h.cols;
  if (all.size() > want) return bad(f.name + ": trailing data after the declared " + num(h.count) + " " + items);
  if (all.size() == want && !complete) return bad(f.name + ": the gzip stream ends before its trailer");
  if (all.size() < want) {
    const std::size_t have = all.size() > h.bytes() ? (all.size() - h.bytes()) / sample : 0;
    return bad(f.name + ": truncated: header declares " + num(h.count) + " " + items + ", file holds " +
               num(std::min<std::size_t>(have, h.count)) + (complete ? "" : " (the gzip stream ends early)"));
  }
  return all.substr(h.bytes());
}

result<dataset> parse_idx(const std::vector<contribution_file>& files, const contribution_limits& lim) {
  if (files.size() != 2)
    return bad("idx contribution needs exactly two files (an IDX3 image file and an IDX1 label file), got " +
               num(files.size()));
  idx_header h[2];
  for (int i = 0; i < 2; ++i) {
    auto r = read_idx_header(files[i]);
    if (!r) return r.err();
    h[i] = *r;
  }
  if (h[0].dims == h[1].dims)
    return bad("idx contribution needs an image file and a label file, got two " +
               std::string(h[0].dims == 3 ? "image" : "label") + " files (" + files[0].name + ", " + files[1].name +
               ")");
  const int im = h[0].dims == 3 ? 0 : 1, lb = 1 - im;
  const contribution_file &fi = files[im], &fl = files[lb];
  if (h[im].rows != std::uint32_t(lim.rows) || h[im].cols != std::uint32_t(lim.cols))
    return bad(fi.name + ": " + shape(h[im].cols, h[im].rows) + " images, expected " + shape(lim.cols, lim.rows));
  if (h[im].count > lim.max_samples) return too_many_samples(h[im].count, lim);
  if (h[lb].count != h[im].count)
    return bad(fl.name + ": " + num(h[lb].count) + " labels but " + fi.name + " holds " + num(h[im].count) + " images");
  if (h[im].count == 0) return bad("contribution holds no samples");
  auto px = read_idx_payload(fi, h[im], "images");
  if (!px) return px.err();
  auto labels = read_idx_payload(fl, h[lb], "labels");
  if (!labels) return labels.err();
  dataset d = empty_dataset(lim, h[im].count);
  const std::size_t n = d.sample_size();
  for (std::size_t k = 0; k < h[im].count; ++k) {
    const auto label = std::uint8_t((*labels)[k]);
    if (label >= lim.num_classes)
      return bad(fl.name + ": label " + num(label) + " at sample " + num(k) + " is not below " + num(lim.num_classes));
    append(d, label, reinterpret_cast<const std::uint8_t*>(px->data()) + k * n, n);
  }
  return d;
}

// ---------------------------------------------------------------- CSV

string_view trim(string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<long> to_int(string_view s) {
  s = trim(s);
  long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

/// Splits into lines (numbered from 1), dropping blank ones and a header.
std::vector<std::pair<std::size_t, string_view>> csv_lines(string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::pair<std::size_t, string_view>> out;
  std::size_t number = 0;
  bool first = true;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const string_view line = text.substr(0, nl);
    text.remove_prefix(nl == string_view::npos ? text.size() : nl + 1);
    ++number;
    if (trim(line).empty()) continue;
    const bool header = first && !to_int(line.substr(0, line.find(',')));
    first = false;
    if (!header) out.emplace_back(number, line);
  }
  return out;
}

status parse_csv_line(const std::string& where, string_view line, dataset& d, std::vector<std::uint8_t>& px) {
  const std::size_t n = d.sample_size();
  const std::size_t fields = std::size_t(std::count(line.begin(), line.end(), ',')) + 1;
  if (fields != n + 1) return bad(where + num(fields - 1) + " pixel values, expected " + num(n));
  std::size_t at = 0;
  auto next = [&] {
    const std::size_t comma = line.find(',', at);
    const string_view f = line.substr(at, comma - at);
    at = comma + 1;
    return f;
  };
  const string_view lf = next();
  const auto label = to_int(lf);
  if (!label) return bad(where + "label '" + std::string(trim(lf)) + "' is not an integer");
  if (*label < 0 || *label >= d.num_classes)
    return bad(where + "label " + std::to_string(*label) + " is not in 0.." + num(d.num_classes - 1));
  for (std::size_t i = 0; i < n; ++i) {
    const string_view f = next();
    const auto v = to_int(f);
    if (!v) return bad(where + "pixel " + num(i) + " '" + std::string(trim(f)) + "' is not an integer");
    if (*v < 0 || *v > 255) return bad(where + "pixel " + num(i) + " is " + std::to_string(*v) + ", outside 0..255");
    px[i] = std::uint8_t(*v);
  }
  append(d, std::uint8_t(*label), px.data(), n);
  return {};
}

result<dataset> parse_csv(const std::vector<contribution_file>& files, const contribution_limits& lim) {
  if (files.size() != 1) return bad("csv contribution needs exactly one file, got " + num(files.size()));
  const contribution_file& f = files[0];
  const auto lines = csv_lines(f.bytes);
  if (lines.size() > lim.max_samples) return too_many_samples(lines.size(), lim);
  if (lines.empty()) return bad(f.name + ": contribution holds no samples");
  dataset d = empty_dataset(lim, lines.size());
  std::vector<std::uint8_t> px(d.sample_size());
  for (const auto& [number, line] : lines)
    if (auto st = parse_csv_line(f.name + " line " + num(number) + ": ", line, d, px); !st) return st.err();
  return d;
}

// ---------------------------------------------------------------- PGM

/// Cursor over a PGM file's text parts: whitespace, '#' comments, decimal numbers.
struct pgm_cursor {
  string_view b;
  std::size_t at = 0;

  void skip_space() {
    while (at < b.size()) {
      if (b[at] == '#') {
        while (at < b.size() && b[at] != '\n' && b[at] != '\r') ++at;
      } else if (std::isspace(static_cast<unsigned char>(b[at]))) {
        ++at;
      } else {
        return;
      }
    }
  }
  std::optional<long> number() {
    skip_space();
    long v = 0;
    const auto [end, ec] = std::from_chars(b.data() + at, b.data() + b.size(), v);
    if (ec != std::errc() || end == b.data() + at || v < 0) return std::nullopt;
    at = std::size_t(end - b.data());
    if (at < b.size() && !std::isspace(static_cast<unsigned char>(b[at])) && b[at] != '#') return std::nullopt;
    return v;
  }
};

/// The label in a name "<label>/<anything>.pgm".
result<std::uint8_t> pgm_label(const std::string& name, const contribution_limits& lim) {
  const std::size_t slash = name.find('/');
  const bool pgm = name.ends_with(".pgm") || name.ends_with(".PGM");
  const bool digits =
      slash != std::string::npos && slash > 0 && slash <= 3 &&
      std::all_of(name.begin(), name.begin() + long(slash), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (!pgm || !digits || slash + 5 >= name.size()) return bad(name + ": expected a name '<label>/<file>.pgm'");
  const auto label = to_int(string_view(name).substr(0, slash));
  if (*label >= lim.num_classes)
    return bad(name + ": label " + std::to_string(*label) + " is not below " + num(lim.num_classes));
  return std::uint8_t(*label);
}

status parse_pgm_raster(const std::string& name, pgm_cursor& c, bool binary, long maxval, std::uint8_t* px,
                        std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    long v = 0;
    if (binary) {
      if (c.at >= c.b.size()) return bad(name + ": truncated: " + num(i) + " of " + num(n) + " pixel bytes");
      v = std::uint8_t(c.b[c.at++]);
    } else {
      c.skip_space();
      if (c.at >= c.b.size()) return bad(name + ": truncated: " + num(i) + " of " + num(n) + " pixel values");
      const auto got = c.number();
      if (!got) return bad(name + ": pixel " + num(i) + " is not a non-negative integer");
      v = *got;
    }
    if (v > maxval)
      return bad(name + ": pixel " + num(i) + " is " + std::to_string(v) + ", above maxval " + std::to_string(maxval));
    px[i] = std::uint8_t((v * 255 + maxval / 2) / maxval);
  }
  c.skip_space();
  if (c.at < c.b.size()) return bad(name + ": trailing data after the " + num(n) + " pixels");
  return {};
}

status parse_pgm(const contribution_file& f, const contribution_limits& lim, dataset& d,
                 std::vector<std::uint8_t>& px) {
  auto label = pgm_label(f.name, lim);
  if (!label) return label.err();
  const string_view b = f.bytes;
  if (b.size() < 3 || b[0] != 'P' || (b[1] != '5' && b[1] != '2') ||
      !(std::isspace(static_cast<unsigned char>(b[2])) || b[2] == '#'))
    return bad(f.name + ": bad PGM header: not a PGM file (expected magic P5 or P2)");
  pgm_cursor c{b, 2};
  const auto w = c.number(), h = c.number(), maxval = c.number();
  if (!w || !h || !maxval) return bad(f.name + ": bad PGM header: expected width, height and maxval");
  if (*maxval < 1 || *maxval > 255)
    return bad(f.name + ": bad PGM header: maxval " + std::to_string(*maxval) + " is not in 1..255");
  if (*w != lim.cols || *h != lim.rows)
    return bad(f.name + ": " + shape(*w, *h) + " image, expected " + shape(lim.cols, lim.rows));
  const bool binary = b[1] == '5';
  if (binary && c.at < b.size() && !std::isspace(static_cast<unsigned char>(b[c.at])))
    return bad(f.name + ": bad PGM header: expected one whitespace byte after maxval");
  if (binary) ++c.at;  // exactly one whitespace byte before the raster
  if (auto st = parse_pgm_raster(f.name, c, binary, *maxval, px.data(), px.size()); !st) return st;
  append(d, *label, px.data(), px.size());
  return {};
}

result<dataset> parse_pgms(const std::vector<contribution_file>& files, const contribution_limits& lim) {
  if (files.size() > lim.max_samples) return too_many_samples(files.size(), lim);
  if (files.empty()) return bad("contribution holds no samples");
  dataset d = empty_dataset(lim, files.size());
  std::vector<std::uint8_t> px(d.sample_size());
  for (const contribution_file& f : files)
    if (auto st = parse_pgm(f, lim, d, px); !st) return st.err();
  return d;
}

result<dataset> parse_unchecked(const std::string& format, const std::vector<contribution_file>& files,
                                const contribution_limits& lim) {
  if (auto st = check_limits(lim); !st) return st.err();
  std::uint64_t total = 0;
  for (const contribution_file& f : files) total += f.bytes.size();
  if (total > lim.max_bytes)
    return bad("contribution of " + num(total) + " bytes exceeds the limit of " + num(lim.max_bytes) + " bytes");
  if (format != "idx" && format != "csv" && format != "pgm")
    return bad("unknown format '" + format + "' (expected idx, csv or pgm)");
  if (files.empty()) return bad("empty contribution: no files");
  if (format == "idx") return parse_idx(files, lim);
  if (format == "csv") return parse_csv(files, lim);
  return parse_pgms(files, lim);
}

// ---------------------------------------------------------------- reading from disk

/// Reads a whole file, failing before reading if it would take the total past lim.max_bytes.
result<std::string> read_capped(const fs::path& p, std::uint64_t& used, const contribution_limits& lim) {
  std::error_code ec;
  const std::uint64_t size = fs::file_size(p, ec);
  if (ec) return make_error(errc::io, p.string() + ": cannot read: " + ec.message());
  if (used + size > lim.max_bytes)
    return bad(p.string() + ": contribution of at least " + num(used + size) + " bytes exceeds the limit of " +
               num(lim.max_bytes) + " bytes");
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(errc::io, p.string() + ": cannot open: " + std::strerror(errno));
  // One byte more than its size: detects a file that grew since the check.
  std::string bytes(std::size_t(std::min<std::uint64_t>(size, lim.max_bytes - used) + 1), '\0');
  in.read(bytes.data(), std::streamsize(bytes.size()));
  if (in.bad()) return make_error(errc::io, p.string() + ": read error");
  bytes.resize(std::size_t(in.gcount()));
  used += bytes.size();
  if (used > lim.max_bytes)
    return bad(p.string() + ": contribution exceeds the limit of " + num(lim.max_bytes) + " bytes");
  return bytes;
}

/// 1 or 3 when the file looks like an IDX label/image file (plain or gzip), else 0.
int sniff_idx(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string b(1 << 16, '\0');
  in.read(b.data(), std::streamsize(b.size()));
  b.resize(std::size_t(in.gcount()));
  auto h = head(b, 4, p.string());
  return h ? idx_dims(*h) : 0;
}

bool is_label_dir(const fs::directory_entry& e) {
  const std::string name = e.path().filename().string();
  std::error_code ec;
  return e.is_directory(ec) && !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// "<label>/<file>" names of the .pgm files in digit-named subdirectories, sorted.
std::vector<std::pair<std::string, fs::path>> pgm_files(const fs::path& dir) {
  std::vector<std::pair<std::string, fs::path>> out;
  std::error_code ec;
  for (const auto& sub : fs::directory_iterator(dir, ec)) {
    if (!is_label_dir(sub)) continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      const std::string ext = f.path().extension().string();
      if ((ext == ".pgm" || ext == ".PGM") && f.is_regular_file(ec))
        out.emplace_back(sub.path().filename().string() + "/" + f.path().filename().string(), f.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

result<contribution_bundle> read_pgm_dir(const fs::path& dir, std::vector<std::pair<std::string, fs::path>> files,
                                         const contribution_limits& lim) {
  if (files.size() > lim.max_samples) {
    error e = too_many_samples(files.size(), lim);
    e.message = dir.string() + ": " + e.message;
    return e;
  }
  contribution_bundle b{"pgm", {}};
  std::uint64_t used = 0;
  for (auto& [name, p] : files) {
    auto bytes = read_capped(p, used, lim);
    if (!bytes) return bytes.err();
    b.files.push_back({name, std::move(*bytes)});
  }
  return b;
}

/// An IDX image file and an IDX label file, in either order.
result<contribution_bundle> read_idx_pair(const std::string& where, const std::vector<fs::path>& images,
                                          const std::vector<fs::path>& labels, const contribution_limits& lim) {
  auto list = [](const std::vector<fs::path>& ps) {
    std::string s;
    for (const auto& p : ps) s += (s.empty() ? "" : ", ") + p.filename().string();
    return s;
  };
  if (images.size() != 1 || labels.size() != 1)
    return bad(where + ": expected exactly one IDX image file and one IDX label file, found " + num(images.size()) +
               " image file(s) (" + list(images) + ") and " + num(labels.size()) + " label file(s) (" + list(labels) +
               ")");
  contribution_bundle b{"idx", {}};
  std::uint64_t used = 0;
  for (const fs::path& p : {images[0], labels[0]}) {
    auto bytes = read_capped(p, used, lim);
    if (!bytes) return bytes.err();
    b.files.push_back({p.filename().string(), std::move(*bytes)});
  }
  return b;
}

result<contribution_bundle> read_dir(const fs::path& dir, const contribution_limits& lim) {
  auto pgms = pgm_files(dir);
  if (!pgms.empty()) return read_pgm_dir(dir, std::move(pgms), lim);
  std::vector<fs::path> found[4];
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) found[sniff_idx(e.path())].push_back(e.path());
  if (ec) return make_error(errc::io, dir.string() + ": cannot list: " + ec.message());
  if (found[1].empty() && found[3].empty())
    return bad(dir.string() +
               ": no contribution found: expected digit-named subdirectories of .pgm files, or an "
               "IDX image file and an IDX label file");
  std::sort(found[1].begin(), found[1].end());
  std::sort(found[3].begin(), found[3].end());
  return read_idx_pair(dir.string(), found[3], found[1], lim);
}

result<contribution_bundle> read_file(const fs::path& p, const contribution_limits& lim) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (ext == ".csv") {
    std::uint64_t used = 0;
    auto bytes = read_capped(p, used, lim);
    if (!bytes) return bytes.err();
    return contribution_bundle{"csv", {{p.filename().string(), std::move(*bytes)}}};
  }
  const int dims = sniff_idx(p);
  std::ifstream in(p, std::ios::binary);
  char magic[2] = {};
  in.read(magic, 2);
  if (dims != 0 || is_gzip(string_view(magic, std::size_t(in.gcount()))))
    return bad(p.string() + ": an IDX file alone is not a contribution: also give its " +
               (dims == 1 ? "images file" : "labels file") + ", or the directory holding both");
  return bad(p.string() +
             ": unrecognised contribution: expected a .csv file, a directory of digit-named "
             "subdirectories of .pgm files, or an IDX image file and its label file");
}

result<contribution_bundle> read_one(const std::string& path, const contribution_limits& lim) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) return make_error(errc::not_found, path + ": no such file or directory");
  if (fs::is_directory(st)) return read_dir(path, lim);
  if (fs::is_regular_file(st)) return read_file(path, lim);
  return make_error(errc::io, path + ": not a regular file or directory");
}

result<contribution_bundle> read_many(const std::vector<std::string>& paths, const contribution_limits& lim) {
  if (paths.size() == 1) return read_one(paths[0], lim);
  if (paths.size() != 2)
    return bad("expected one path, or an IDX image file and its label file; got " + num(paths.size()) + " paths");
  std::vector<fs::path> found[4];
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) return make_error(errc::not_found, p + ": no such file or directory");
    if (!fs::is_regular_file(p, ec)) return bad(p + ": expected an IDX file");
    found[sniff_idx(p)].push_back(p);
  }
  if (!found[0].empty()) return bad(found[0][0].string() + ": not an IDX image or label file");
  return read_idx_pair(paths[0] + ", " + paths[1], found[3], found[1], lim);
}

// ---------------------------------------------------------------- writing

std::uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  return v >= 1.0f ? 255 : std::uint8_t(std::lround(v * 255.0f));
}

void put32(std::string& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(char(std::uint8_t(v >> s)));
}

}  // namespace

result<dataset> parse_contribution(const std::string& format, const std::vector<contribution_file>& files,
                                   const contribution_limits& lim) {
  try {
    return parse_unchecked(format, files, lim);
  } catch (const std::bad_alloc&) {
    return make_error(errc::io, "out of memory while parsing a contribution");
  } catch (const std::exception& e) {
    return make_error(errc::internal, std::string("parsing a contribution: ") + e.what());
  }
}

result<contribution_bundle> read_contribution(const std::string& path, const contribution_limits& lim) {
  return read_contribution(std::vector<std::string>{path}, lim);
}

result<contribution_bundle> read_contribution(const std::vector<std::string>& paths, const contribution_limits& lim) {
  try {
    if (auto st = check_limits(lim); !st) return st.err();
    return read_many(paths, lim);
  } catch (const std::bad_alloc&) {
    return make_error(errc::io, "out of memory while reading a contribution");
  } catch (const std::exception& e) {
    return make_error(errc::io, std::string("reading a contribution: ") + e.what());
  }
}

std::string to_csv(const dataset& d, std::size_t from, std::size_t to) {
  to = std::min(to, d.size());
  const std::size_t n = d.sample_size();
  std::string out = "label";
  for (std::size_t i = 0; i < n; ++i) out.append(",p").append(num(i));
  out += '\n';
  for (std::size_t k = from; k < to; ++k) {
    out += num(d.labels[k]);
    for (std::size_t i = 0; i < n; ++i) out.append(",").append(num(to_byte(d.images[k * n + i])));
    out += '\n';
  }
  return out;
}

contribution_bundle to_idx_bundle(const dataset& d, std::size_t from, std::size_t to) {
  to = std::min(to, d.size());
  from = std::min(from, to);
  const std::size_t n = d.sample_size();
  std::string images, labels;
  put32(images, 0x803);
  put32(images, std::uint32_t(to - from));
  put32(images, std::uint32_t(d.rows));
  put32(images, std::uint32_t(d.cols));
  put32(labels, 0x801);
  put32(labels, std::uint32_t(to - from));
  for (std::size_t k = from; k < to; ++k) {
    labels.push_back(char(d.labels[k]));
    for (std::size_t i = 0; i < n; ++i) images.push_back(char(to_byte(d.images[k * n + i])));
  }
  return {
      "idx",
      {{"contribution-images-idx3-ubyte", std::move(images)}, {"contribution-labels-idx1-ubyte", std::move(labels)}}};
}

// ---------------------------------------------------------------- dedup_index

namespace {

/// weights[b * n + i]: overlap of pixel i with block b of 8 equal blocks, in 1/8 pixels.
std::vector<std::uint32_t> block_weights(int n) {
  std::vector<std::uint32_t> w(8 * std::size_t(n));
  for (int b = 0; b < 8; ++b)
    for (int i = 0; i < n; ++i) {
      // In 1/8-pixel units block b covers [b*n, (b+1)*n) and pixel i covers [8i, 8i+8).
      const long lo = std::max<long>(long(b) * n, 8L * i), hi = std::min<long>(long(b + 1) * n, 8L * i + 8);
      w[std::size_t(b) * n + i] = hi > lo ? std::uint32_t(hi - lo) : 0;
    }
  return w;
}

}  // namespace

std::size_t dedup_index::digest_hash::operator()(const digest256& d) const {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

dedup_index::dedup_index(dedup_options opt)
    : opt_(opt),
      max_changed_pixels_(std::size_t(std::max(0.0, opt.max_changed) * opt.rows * opt.cols)),
      row_weight_(block_weights(opt.rows)),
      col_weight_(block_weights(opt.cols)) {}

std::vector<std::uint8_t> dedup_index::quantize(std::span<const float> image) const {
  assert(image.size() == std::size_t(opt_.rows) * opt_.cols);
  // Sized by the shape, not the input, so that a broken precondition cannot read out of bounds.
  std::vector<std::uint8_t> q(std::size_t(opt_.rows) * opt_.cols, 0);
  std::transform(image.begin(), image.begin() + long(std::min(image.size(), q.size())), q.begin(), to_byte);
  return q;
}

std::uint64_t dedup_index::average_hash(const std::uint8_t* px) const {
  // Separable area-weighted sums: first over columns per row, then over rows.
  std::vector<std::uint64_t> by_row(std::size_t(opt_.rows) * 8, 0);
  for (int r = 0; r < opt_.rows; ++r)
    for (int bx = 0; bx < 8; ++bx) {
      std::uint64_t s = 0;
      for (int c = 0; c < opt_.cols; ++c)
        s += std::uint64_t(col_weight_[std::size_t(bx) * opt_.cols + c]) * px[r * opt_.cols + c];
      by_row[std::size_t(r) * 8 + bx] = s;
    }
  std::uint64_t block[64] = {}, total = 0;
  for (int by = 0; by < 8; ++by)
    for (int bx = 0; bx < 8; ++bx) {
      std::uint64_t s = 0;
      for (int r = 0; r < opt_.rows; ++r)
        s += row_weight_[std::size_t(by) * opt_.rows + r] * by_row[std::size_t(r) * 8 + bx];
      block[by * 8 + bx] = s;
      total += s;
    }
  // All blocks have the same area, so comparing sums compares means: block > total / 64.
  std::uint64_t hash = 0;
  for (int i = 0; i < 64; ++i)
    if (block[i] * 64 > total) hash |= std::uint64_t(1) << i;
  return hash;
}

bool dedup_index::confirms(std::size_t entry, const std::uint8_t* px) const {
  const std::size_t n = std::size_t(opt_.rows) * opt_.cols;
  const std::uint8_t* other = pixels_.data() + entry * n;
  const auto tolerance = std::uint8_t(std::clamp(opt_.pixel_tolerance, 0, 255));
  std::size_t changed = 0;
  // In fixed chunks: distinct images stop early, and the inner loop vectorises.
  constexpr std::size_t chunk = 64;
  std::size_t at = 0;
  for (; at + chunk <= n; at += chunk) {
    unsigned count = 0;
    for (std::size_t i = 0; i < chunk; ++i) {
      const std::uint8_t a = px[at + i], b = other[at + i];
      count += std::uint8_t(a > b ? a - b : b - a) > tolerance;
    }
    changed += count;
    if (changed > max_changed_pixels_) return false;
  }
  for (; at < n; ++at) changed += std::abs(int(px[at]) - int(other[at])) > tolerance;
  return changed <= max_changed_pixels_;
}

bool dedup_index::near_match(std::uint64_t hash, const std::uint8_t* px) const {
  for (std::size_t e = 0; e < hashes_.size(); ++e)
    if (std::popcount(hash ^ hashes_[e]) <= opt_.near_bits && confirms(e, px)) return true;
  return false;
}

dup_kind dedup_index::check(std::span<const float> image) const {
  const std::vector<std::uint8_t> q = quantize(image);
  if (exact_.contains(blake2b_256(std::as_bytes(std::span(q))))) return dup_kind::exact;
  return near_match(average_hash(q.data()), q.data()) ? dup_kind::near : dup_kind::unique;
}

void dedup_index::add(std::span<const float> image) {
  const std::vector<std::uint8_t> q = quantize(image);
  exact_.insert(blake2b_256(std::as_bytes(std::span(q))));
  const std::uint64_t hash = average_hash(q.data());
  hashes_.push_back(hash);
  pixels_.insert(pixels_.end(), q.begin(), q.end());
}

}  // namespace hydra::data
