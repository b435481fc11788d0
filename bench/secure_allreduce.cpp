// The price of the trust boundary on the data plane: Hydra's p2p all-reduce
// (ring over comm::tcp_link, loopback TCP, 2 rank processes) with the
// encrypted channel (AES-256-GCM records) and in the benchmark-only
// plaintext mode, in the same run with the reps interleaved (so both see the
// same machine load), medians of >= 10 reps after warm-up; plus the cost of
// the handshake. Rank 0 prints JSON lines:
//   {"impl":"p2p","btl":"tcp","mode":"encrypted","ranks":2,"bytes":16777216,"median_ms":..,"gbps":..}
//   {"impl":"p2p","btl":"tcp","mode":"plaintext",...}
//   {"impl":"handshake","where":"socketpair","reps":..,"median_us":..}   state machines + I/O, one process
//   {"impl":"handshake","where":"link_open","reps":..,"median_us":..}    tcp_link::open of 2 ranks, loopback
// gbps = bytes * 8 / median / 1e9 (algorithm bandwidth, as bench/mpi_allreduce.cpp).
// Usage: hydra_secure_allreduce [--bytes B] [--reps R] [--segment-bytes S]
// (bench/secure_allreduce.sh runs it beside MPI_Allreduce and prints the ratios)
// One rank per process (bench/secure_allreduce_netns.sh: one network namespace
// each): add --rank R --listen IP:PORT --peer IP:PORT --seed TEXT. The rank
// listens on PORT (encrypted link) and PORT+1 (plaintext link) and dials the
// peer's PORT and PORT+1; both ranks' keys derive from the seed, so the two
// processes agree on the members. Rank 0 prints the p2p lines, no handshake lines.

#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/tcp_link.hpp"

using namespace hydra;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::size_t record_bytes = trust::channel_config{}.max_record;

trust::channel_config config(const wire::identity& self) {
  trust::channel_config c;
  c.self = &self;
  c.max_record = record_bytes;
  c.cluster.fill(1);
  c.verify = [](const wire::public_key&, std::span<const std::uint8_t>) -> result<trust::peer_grant> {
    return trust::peer_grant{};  // membership is the key list
  };
  return c;
}

struct rank_setup {
  std::vector<std::string> addrs;
  std::vector<int> fds;
};

result<rank_setup> listeners(int n) {
  rank_setup s;
  for (int i = 0; i < n; ++i) {
    auto l = comm::tcp_link::listen_on("127.0.0.1", 0);
    if (!l) return l.err();
    s.fds.push_back(l->first);
    s.addrs.push_back("127.0.0.1:" + std::to_string(l->second));
  }
  return s;
}

struct options {
  std::size_t bytes = 16u << 20, segment = 1u << 20;
  int reps = 10, handshakes = 50;
};

/// Times 2-rank link opens (connect + handshake + hello) over loopback; one
/// fresh pair of listeners per open.
int time_opens(int rank, const std::vector<wire::identity>& ids, const std::vector<rank_setup>& sets) {
  if (sets.empty()) return 0;
  std::vector<double> us;
  const std::vector<wire::public_key> members = {ids[0].pk, ids[1].pk};
  for (const auto& s : sets) {
    const auto t0 = comm::clock::now();
    auto l = comm::tcp_link::open(rank, s.addrs, s.fds[rank], config(ids[rank]), members, 3,
                                  comm::clock::now() + std::chrono::seconds(30));
    if (!l) {
      std::fprintf(stderr, "rank %d: %s\n", rank, l.err().message.c_str());
      return 1;
    }
    us.push_back(std::chrono::duration<double, std::micro>(comm::clock::now() - t0).count());
  }
  if (rank == 0)
    std::printf("{\"impl\":\"handshake\",\"where\":\"link_open\",\"reps\":%zu,\"median_us\":%.1f}\n", us.size(),
                median(us));
  return 0;
}

int run_rank(int rank, const std::vector<wire::identity>& ids, const rank_setup& enc, const rank_setup& plain,
             const std::vector<rank_setup>& opens, const options& o) {
  const std::vector<wire::public_key> members = {ids[0].pk, ids[1].pk};
  const auto deadline = comm::clock::now() + std::chrono::seconds(30);
  comm::tcp_link_options plain_opt;
  plain_opt.plaintext = true;
  auto le = comm::tcp_link::open(rank, enc.addrs, enc.fds[rank], config(ids[rank]), members, 1, deadline);
  auto lp = comm::tcp_link::open(rank, plain.addrs, plain.fds[rank], config(ids[rank]), members, 2, deadline, plain_opt);
  if (!le || !lp) {
    std::fprintf(stderr, "rank %d: %s\n", rank, (!le ? le.err() : lp.err()).message.c_str());
    return 1;
  }
  comm::allreduce_engine engine;
  comm::allreduce_options opt;
  opt.segment_bytes = o.segment;
  opt.timeout = std::chrono::seconds(30);
  std::vector<float> sync(1), data(o.bytes / sizeof(float), 1.0f + rank);
  std::vector<double> ms[2];
  comm::link* links[2] = {le->get(), lp->get()};
  for (int rep = 0; rep < o.reps + 3; ++rep)
    for (int m = 0; m < 2; ++m) {
      if (!engine.run(*links[m], sync, 1.0, opt)) return 1;  // line up the ranks
      const auto t0 = comm::clock::now();
      if (auto r = engine.run(*links[m], data, 1.0, opt); !r) {
        std::fprintf(stderr, "rank %d: %s\n", rank, r.err().message.c_str());
        return 1;
      }
      if (rep >= 3) ms[m].push_back(std::chrono::duration<double, std::milli>(comm::clock::now() - t0).count());
    }
  if (rank == 0)
    for (int m = 0; m < 2; ++m) {
      const double med = median(ms[m]);
      std::printf("{\"impl\":\"p2p\",\"btl\":\"tcp\",\"mode\":\"%s\",\"ranks\":2,\"bytes\":%zu,\"reps\":%d,"
                  "\"median_ms\":%.4f,\"gbps\":%.4f}\n",
                  m == 0 ? "encrypted" : "plaintext", o.bytes, o.reps, med, o.bytes * 8 / (med * 1e-3) / 1e9);
    }
  std::fflush(stdout);
  return time_opens(rank, ids, opens);
}

/// Both handshake state machines and handshake_fd over a socketpair, one
/// thread each: the CPU and syscall cost without TCP connection setup.
void time_socketpair_handshakes(int reps) {
  const auto a = wire::generate_identity(), b = wire::generate_identity();
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    std::thread t([&] {
      std::vector<std::uint8_t> left;
      auto c = config(a);
      c.expect = b.pk;
      ok = trust::handshake_fd(sv[0], true, c, deadline, left).ok();
    });
    std::vector<std::uint8_t> left;
    const bool ok2 = trust::handshake_fd(sv[1], false, config(b), deadline, left).ok();
    t.join();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    ::close(sv[0]);
    ::close(sv[1]);
    if (!ok || !ok2) return;
  }
  std::printf("{\"impl\":\"handshake\",\"where\":\"socketpair\",\"reps\":%d,\"median_us\":%.1f}\n", reps, median(us));
}

/// Rank r's key from a seed both processes are given:
/// Ed25519 from BLAKE2b-256("hydra-bench" || seed || r).
wire::identity seeded_identity(const std::string& seed, int r) {
  const std::string in = "hydra-bench" + seed + static_cast<char>('0' + r);
  unsigned char s[crypto_sign_SEEDBYTES];
  crypto_generichash(s, sizeof s, reinterpret_cast<const unsigned char*>(in.data()), in.size(), nullptr, 0);
  wire::identity id;
  crypto_sign_seed_keypair(id.pk.data(), id.sk.data(), s);
  id.id = wire::id_of(id.pk);
  return id;
}

/// "IP:PORT" with PORT raised by `plus`.
std::string port_plus(const std::string& addr, int plus) {
  const auto c = addr.rfind(':');
  return addr.substr(0, c) + ":" + std::to_string(std::stoi(addr.substr(c + 1)) + plus);
}

/// --rank mode: this process is one rank; the peer runs the other.
int run_one_rank(int rank, const std::string& listen, const std::string& peer, const std::string& seed,
                 const options& o) {
  if (sodium_init() < 0 || (rank != 0 && rank != 1) || listen.rfind(':') == std::string::npos ||
      peer.rfind(':') == std::string::npos) {
    std::fprintf(stderr, "--rank needs 0 or 1, --listen IP:PORT, --peer IP:PORT and --seed\n");
    return 2;
  }
  const std::vector<wire::identity> ids = {seeded_identity(seed, 0), seeded_identity(seed, 1)};
  rank_setup sets[2];
  for (int m = 0; m < 2; ++m) {
    const std::string self = port_plus(listen, m), other = port_plus(peer, m);
    const auto c = self.rfind(':');
    auto l = comm::tcp_link::listen_on(self.substr(0, c), static_cast<std::uint16_t>(std::stoi(self.substr(c + 1))));
    if (!l) {
      std::fprintf(stderr, "rank %d: listen on %s: %s\n", rank, self.c_str(), l.err().message.c_str());
      return 1;
    }
    sets[m].addrs = rank == 0 ? std::vector<std::string>{self, other} : std::vector<std::string>{other, self};
    sets[m].fds = {-1, -1};
    sets[m].fds[rank] = l->first;
  }
  return run_rank(rank, ids, sets[0], sets[1], {}, o);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  int rank = -1;
  std::string listen, peer, seed;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::printf(
          "usage: hydra_secure_allreduce [--bytes B (16 MiB)] [--reps R (10)] [--segment-bytes S (1 MiB)]\n"
          "                              [--record-bytes N (the channel's default, 1 MiB)]\n"
          "       hydra_secure_allreduce --rank 0|1 --listen IP:PORT --peer IP:PORT --seed HEX [same options]\n"
          "The 2-rank p2p all-reduce over encrypted and plaintext tcp_link (reps interleaved), then the\n"
          "handshake's cost; one JSON line each. With --rank, one rank of a two-process run (used by\n"
          "bench/secure_allreduce_netns.sh; both ranks pass the same --seed, which derives the keys).\n");
      return 0;
    }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "%s needs a value (see --help)\n", argv[argc - 1]);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--bytes") o.bytes = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--rank") rank = std::atoi(argv[i + 1]);
    else if (k == "--listen") listen = argv[i + 1];
    else if (k == "--peer") peer = argv[i + 1];
    else if (k == "--seed") seed = argv[i + 1];
    else if (k == "--reps") o.reps = std::atoi(argv[i + 1]);
    else if (k == "--segment-bytes") o.segment = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--record-bytes") record_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.reps < 1 || o.bytes < sizeof(float)) {
    std::fprintf(stderr, "need --reps >= 1 and --bytes >= 4\n");
    return 2;
  }
  if (rank >= 0 || !listen.empty() || !peer.empty()) return run_one_rank(rank, listen, peer, seed, o);
  // Keys and listening sockets exist before the fork, so both ranks know
  // every member's key and address.
  const std::vector<wire::identity> ids = {wire::generate_identity(), wire::generate_identity()};
  auto enc = listeners(2), plain = listeners(2);
  std::vector<rank_setup> opens;
  for (int i = 0; i < 20; ++i)
    if (auto s = listeners(2)) opens.push_back(*s);
  if (!enc || !plain || opens.size() != 20) {
    std::fprintf(stderr, "cannot listen on loopback\n");
    return 1;
  }
  std::fflush(stdout);
  const pid_t kid = fork();
  if (kid == 0) _exit(run_rank(1, ids, *enc, *plain, opens, o));
  int rc = run_rank(0, ids, *enc, *plain, opens, o);
  int st = 0;
  waitpid(kid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
  time_socketpair_handshakes(o.handshakes);
  return rc;
}
