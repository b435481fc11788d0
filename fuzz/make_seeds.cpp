// Writes the seed corpora under DIR (fuzz/corpus/) with the project's own
// encoders: sealed frames, Message payloads, a node snapshot, IDX files
// (plain and gzip), CSV/IDX/PGM contributions, ledger entries and ledger
// files. Keys come from fixed seeds and frames carry fixed nonces and expiry,
// so the output is the same on every run.
//   hydra_fuzz_make_seeds DIR

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <sodium.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "data/contribution.hpp"
#include "fuzz/fixed_random.hpp"
#include "fuzz/fuzz_util.hpp"
#include "ledger/internal/test_util.hpp"
#include "ledger/log.hpp"
#include "wire/frame.hpp"
#include "wire/internal/test_util.hpp"

#ifdef HYDRA_FUZZ_CHANNEL
#include "fuzz/channel_setup.hpp"
#endif
#include "common/checkpoint_file.hpp"
#ifdef HYDRA_FUZZ_CERT
#include "trust/cert.hpp"
#endif

namespace fs = std::filesystem;
using namespace hydra;
using bytes = std::vector<std::uint8_t>;

namespace {

fs::path root;

std::string str(const bytes& b) { return {b.begin(), b.end()}; }

void put(const std::string& target, const std::string& name, const std::string& content) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << content;
}
void put(const std::string& target, const std::string& name, const bytes& content) {
  put(target, name, str(content));
}

using fuzz::fixed_identity;

wire::envelope_fields fixed_fields(std::uint64_t nonce) {
  wire::envelope_fields f;
  f.nonce = nonce;
  f.expires = 1900000000;
  return f;
}

std::string gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// n samples of rows x cols with a simple pattern, labels i % 10.
data::dataset sample_set(int rows, int cols, int n) {
  data::dataset d;
  d.rows = rows;
  d.cols = cols;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < rows * cols; ++p) d.images.push_back(float((p * 7 + i * 31) % 256) / 255.0f);
    d.labels.push_back(std::uint8_t(i % 10));
  }
  return d;
}

// ---- wire ---------------------------------------------------------------------

bytes payload_of(capnp::MessageBuilder& m) { return wire::testing::to_bytes(m); }

std::vector<std::pair<std::string, bytes>> payloads(const std::vector<ledger::entry>& chain) {
  std::vector<std::pair<std::string, bytes>> out;
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<Message>().initPing().setNonce(42);
    out.emplace_back("ping", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto list = m.initRoot<Message>().initGossip().initEntries(3);
    for (std::uint32_t i = 0; i < 3; ++i) wire::testing::fill_entry(list[i], i);
    out.emplace_back("gossip", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    wire::testing::fill_entry(m.initRoot<Message>().initHello().initSelf(), 5);
    out.emplace_back("hello", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto c = m.initRoot<Message>().initCtlRequest();
    c.setRequestId(9);
    c.setCommand("peers");
    auto args = c.initArgs(2);
    args.set(0, "--json");
    args.set(1, "x");
    out.emplace_back("ctl_request", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto f = m.initRoot<Message>().initFoundNodes();
    f.setRequestId(3);
    auto nodes = f.initNodes(2);
    nodes[0].setAddress("10.0.0.1:4000");
    nodes[1].setAddress("[::1]:4001");
    out.emplace_back("found_nodes", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto p = m.initRoot<Message>().initProbe();
    p.setNonce(7);
    auto d = p.initData(64);
    for (unsigned i = 0; i < 64; ++i) d[i] = std::uint8_t(i);
    out.emplace_back("probe", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto le = m.initRoot<Message>().initLedgerEntries();
    le.setRequestId(1);
    auto list = le.initEntries(static_cast<unsigned>(chain.size()));
    for (unsigned i = 0; i < chain.size(); ++i) {
      const auto enc = ledger::encode(chain[i]);
      list.set(i, capnp::Data::Reader(enc.data(), enc.size()));
    }
    out.emplace_back("ledger_entries", payload_of(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto c = m.initRoot<Message>().initContribute();
    c.setRequestId(2);
    c.setFormat("csv");
    auto files = c.initFiles(1);
    files[0].setName("digits.csv");
    const std::string csv = data::to_csv(sample_set(4, 4, 2), 0, 2);
    files[0].setData(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(csv.data()), csv.size()));
    out.emplace_back("contribute", payload_of(m));
  }
  {
    // Many small segments: the multi-segment paths of the reader.
    capnp::MallocMessageBuilder m(1, capnp::AllocationStrategy::FIXED_SIZE);
    auto list = m.initRoot<Message>().initGossip().initEntries(2);
    for (std::uint32_t i = 0; i < 2; ++i) wire::testing::fill_entry(list[i], i);
    out.emplace_back("gossip_segments", payload_of(m));
  }
  return out;
}

void wire_seeds(const std::vector<ledger::entry>& chain) {
  const auto alice = fixed_identity(1);
  const auto ps = payloads(chain);
  for (const auto& [name, p] : ps) {
    put("wire_payload", name, p);
    const auto frame = wire::seal_bytes(alice, p, wire::protocol_version, fixed_fields(name.size()));
    put("wire_frame", name, std::string(1, '\0') + str(frame));
  }
  // Two frames in one stream, fed in small chunks.
  const auto a = wire::seal_bytes(alice, ps[0].second, wire::protocol_version, fixed_fields(1));
  const auto b = wire::seal_bytes(alice, ps[1].second, wire::protocol_version, fixed_fields(2));
  put("wire_frame", "two_frames_chunked", std::string(1, '\x07') + str(a) + str(b));
}

void snapshot_seeds() {
  capnp::MallocMessageBuilder m;
  auto s = m.initRoot<NodeSnapshot>();
  s.setIncarnation(3);
  auto peers = s.initPeers(2);
  for (unsigned i = 0; i < 2; ++i) {
    std::uint8_t id[32] = {std::uint8_t(i + 1)};
    peers[i].setId(capnp::Data::Reader(id, sizeof id));
    peers[i].setAddress("127.0.0.1:" + std::to_string(4000 + i));
  }
  auto roles = s.initRoles(1);
  roles[0].setLogicalId("trainer/0");
  roles[0].setKind("trainer");
  roles[0].setState(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("state"), 5));
  put("node_snapshot", "two_peers", payload_of(m));
}

// ---- data ---------------------------------------------------------------------

void data_seeds() {
  using fuzz::join_parts;
  const auto idx28 = data::to_idx_bundle(sample_set(28, 28, 2), 0, 2);
  const auto idx4 = data::to_idx_bundle(sample_set(4, 4, 3), 0, 3);
  const std::string& img28 = idx28.files[0].bytes;
  const std::string& lab28 = idx28.files[1].bytes;
  put("idx_file", "plain", join_parts({img28, lab28}));
  put("idx_file", "gzip", join_parts({gzip(img28), gzip(lab28)}));
  put("idx_file", "small_mixed", join_parts({idx4.files[0].bytes, gzip(idx4.files[1].bytes)}));

  // Contribution inputs: format byte (bits 0-1 format, 2-3 shape), then parts "NAME\nBYTES".
  const char csv = 0, idx = 1, pgm = 2, s28 = 0, s4 = 1 << 2, s1 = 3 << 2;
  auto contribution = [](char sel, const std::vector<std::pair<std::string, std::string>>& files) {
    std::vector<std::string> parts;
    for (const auto& [name, b] : files) parts.push_back(name + "\n" + b);
    return std::string(1, sel) + join_parts(parts);
  };
  put("contribution", "csv28", contribution(csv | s28, {{"digits.csv", data::to_csv(sample_set(28, 28, 2), 0, 2)}}));
  put("contribution", "csv4_crlf_bom",
      contribution(csv | s4, {{"d.csv", "\xEF\xBB\xBFlabel,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p\r\n"
                                        "3,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,255\r\n\r\n"
                                        "9,255,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1\r\n"}}));
  put("contribution", "idx28", contribution(idx | s28, {{idx28.files[0].name, img28}, {idx28.files[1].name, lab28}}));
  put("contribution", "idx4_gzip",
      contribution(idx | s4, {{"l.gz", gzip(idx4.files[1].bytes)}, {"i.gz", gzip(idx4.files[0].bytes)}}));
  std::string p5 = "P5\n4 4\n255\n";
  for (int i = 0; i < 16; ++i) p5 += char(i * 16);
  const std::string p2 = "P2\n# a comment\n4 4\n15\n0 1 2 3\n4 5 6 7\n8 9 10 11\n12 13 14 15\n";
  put("contribution", "pgm4", contribution(pgm | s4, {{"3/a.pgm", p5}, {"7/b.pgm", p2}}));
  put("contribution", "pgm1", contribution(pgm | s1, {{"0/x.pgm", "P2 1 1 1 1\n"}}));
}

// ---- ledger -------------------------------------------------------------------

std::vector<ledger::entry> ledger_seeds() {
  const auto alice = fixed_identity(2), bob = fixed_identity(3);
  auto chain = ledger::testing::make_chain(alice, 4);
  const auto other = ledger::testing::next_entry(bob, nullptr, ledger::kind::contribution, "c0ffee", 5,
                                                 "{\"samples\":100}");
  const auto score = ledger::testing::next_entry(bob, &other, ledger::kind::score, "c0ffee", 0, "{\"score\":0.5}");
  for (std::size_t i = 0; i < chain.size(); ++i) put("ledger_entry", "alice" + std::to_string(i), ledger::encode(chain[i]));
  put("ledger_entry", "bob_contribution", ledger::encode(other));
  put("ledger_entry", "bob_score", ledger::encode(score));

  // A real log file, written by ledger_log::append.
  const fs::path tmp = fs::temp_directory_path() / ("hydra_fuzz_seeds_" + std::to_string(::getpid()) + ".log");
  fs::remove(tmp);
  {
    auto log = ledger::ledger_log::open(tmp.string());
    if (!log) std::abort();
    for (const auto& e : chain)
      if (!log->append(e)) std::abort();
    if (!log->append(other) || !log->append(score)) std::abort();
  }
  std::ifstream in(tmp, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), {});
  fs::remove(tmp);
  for (const char* target : {"ledger_log", "ledger_log_nosig"}) {
    put(target, "two_authors", file);
    put(target, "torn_tail", file.substr(0, file.size() - 10));
  }
  chain.push_back(other);
  return chain;
}

// ---- trust --------------------------------------------------------------------

#ifdef HYDRA_FUZZ_CHANNEL
void channel_seeds() {
  bytes msg1, msg2, msg3;
  auto s = fuzz::establish(&msg1, &msg2, &msg3);
  // Records: a short one, one over max_record (two records), then enough
  // for a rekey (rekey_every = 3 in channel_setup.hpp).
  bytes from_initiator, from_responder;
  const std::string hello = "hello", big(5000, 'x');
  for (const std::string* p : {&hello, &big, &hello}) {
    s.initiator.seal(fuzz::as_bytes(*p), from_initiator);
    s.responder.seal(fuzz::as_bytes(*p), from_responder);
  }
  put("trust_handshake", "responder", std::string(1, '\0') + str(msg1) + str(msg3) + str(from_initiator));
  put("trust_handshake", "responder_chunked", std::string(1, '\x0a') + str(msg1) + str(msg3) + str(from_initiator));
  put("trust_handshake", "initiator", std::string(1, '\x01') + str(msg2) + str(from_responder));
  // trust_session runs establish() itself: the same keys, so these records open.
  auto t = fuzz::establish();
  bytes records;
  for (const std::string* p : {&hello, &big, &hello, &hello}) t.initiator.seal(fuzz::as_bytes(*p), records);
  put("trust_session", "stream", std::string(1, '\0') + str(records));
  put("trust_session", "stream_chunked", std::string(1, '\x05') + str(records));
  put("trust_session", "zero_copy", std::string(1, '\x80') + str(records));
}
#endif

#ifdef HYDRA_FUZZ_CERT
void cert_seeds() {
  // The cluster of trust_cert.fuzz.cpp (keep in step).
  const auto op = fixed_identity(21);
  trust::cluster c;
  c.id.fill(0x17);
  c.name = "fuzz";
  c.operators = {op.pk, fixed_identity(22).pk};
  const std::int64_t now = 1800000000, day = 86400;
  auto cert = [&](std::uint8_t who, std::uint32_t roles, std::int64_t from, std::int64_t to, const char* site) {
    auto b = trust::issue_cert(op, c, fixed_identity(who).pk, roles, from, to, site);
    if (!b) std::abort();
    return std::string(1, '\0') + str(*b);
  };
  put("trust_cert", "cert_valid", cert(40, trust::role_trainer | trust::role_collector, now - day, now + 30 * day, "site-a"));
  put("trust_cert", "cert_expired", cert(41, trust::role_scorer, now - 100 * day, now - 10 * day, ""));
  put("trust_cert", "cert_revoked_key", cert(31, trust::all_node_roles, now - day, now + day, "x.y"));
  auto cl = trust::encode_cluster(c, op);
  if (!cl) std::abort();
  put("trust_cert", "cluster", std::string(1, '\x01') + str(*cl));
  trust::revocation r;
  r.subject = fixed_identity(40).pk;
  r.serial = 0x12ab;
  r.by = op.pk;
  r.at = now;
  put("trust_cert", "revocation",
      std::string(1, '\x02') + fuzz::join_parts({trust::revocation_subject(r.subject), trust::revocation_payload(r)}));
  put("trust_cert", "roles", std::string(1, '\x03') + "trainer,collector");
  put("trust_cert", "serial", std::string(1, '\x03') + trust::serial_hex(0x12ab));
  put("trust_cert", "revoked_file",
      std::string(1, '\x04') + "# revoked keys\n" + trust::revocation_subject(r.subject) + "\n\n");
}
#endif

// ---- checkpoints ---------------------------------------------------------------

void checkpoint_seeds() {
  // Two bytes of the job state's size, then the file.
  auto seed = [](const std::string& name, const std::vector<std::byte>& payload, std::size_t expected) {
    const auto file = encode_checkpoint(payload);
    std::string s;
    s += static_cast<char>(expected & 0xff);
    s += static_cast<char>(expected >> 8);
    s.append(reinterpret_cast<const char*>(file.data()), file.size());
    put("checkpoint", name, s);
  };
  std::vector<std::byte> state(300);
  for (std::size_t i = 0; i < state.size(); ++i) state[i] = static_cast<std::byte>(i * 13);
  seed("good", state, state.size());
  seed("empty_state", {}, 0);
  seed("other_model", state, 200);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hydra_fuzz_make_seeds DIR\n";
    return 2;
  }
  fuzz::install_fixed_random();  // the same seeds on every run
  root = argv[1];
  const auto chain = ledger_seeds();
  wire_seeds(chain);
  snapshot_seeds();
  data_seeds();
  checkpoint_seeds();
#ifdef HYDRA_FUZZ_CHANNEL
  channel_seeds();
#endif
#ifdef HYDRA_FUZZ_CERT
  cert_seeds();
#endif
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
