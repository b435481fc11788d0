#include "actors/ctl_client.hpp"

#include <capnp/message.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "actors/transport.hpp"
#include "ledger/entry.hpp"
#include "trust/cert.hpp"
#include <nlohmann/json.hpp>
#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {
namespace {

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

result<wire::opened_frame> exchange(const credentials& as, const std::string& address,
                                   capnp::MallocMessageBuilder& mb, const std::function<bool(Message::Reader)>& is_answer,
                                   double timeout_seconds) {
  auto parsed = parse_address(address);
  if (!parsed) return parsed.err();
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(parsed->first.c_str(), std::to_string(parsed->second).c_str(), &hints, &res); rc != 0)
    return make_error(errc::invalid_input, "cannot resolve '" + parsed->first + "': " + gai_strerror(rc));
  fd_guard s{::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  const int rc = s.fd < 0 ? -1 : ::connect(s.fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (s.fd < 0 || (rc != 0 && errno != EINPROGRESS))
    return make_error(errc::unavailable, "cannot connect to " + address + ": " + std::strerror(errno));

  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(timeout_seconds));
  auto wait_for = [&](short events) -> status {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0) return make_error(errc::deadline, "no answer from " + address + " within " + std::to_string(timeout_seconds) + " s");
      pollfd p{s.fd, events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left));
      if (n > 0) return {};
      if (n < 0 && errno != EINTR) return make_error(errc::io, std::strerror(errno));
    }
  };
  if (auto st = wait_for(POLLOUT); !st) return st.err();
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return make_error(errc::unavailable, "cannot connect to " + address + ": " + std::strerror(err));

  // The channel: we prove our key, the node proves its own and its certificate.
  std::vector<std::uint8_t> leftover;
  auto chan = trust::handshake_fd(s.fd, true, as.channel(), deadline, leftover);
  if (!chan) {
    if (chan.err().code == errc::deadline)
      return make_error(errc::unavailable, address + " did not complete the handshake (is it a node of cluster '" +
                                               as.cluster.name + "', and are we admitted to it?)");
    return make_error(errc::unavailable, "channel to " + address + ": " + chan.err().message);
  }
  auto& [session, node] = *chan;

  wire::envelope_fields fields;
  fields.recipient = node.id;
  const auto frame = wire::seal(as.id, mb, fields);
  std::vector<std::uint8_t> records;
  session.seal(frame, records);
  std::size_t sent = 0;
  while (sent < records.size()) {
    if (auto st = wait_for(POLLOUT); !st) return st.err();
    const ssize_t n = ::send(s.fd, records.data() + sent, records.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return make_error(errc::unavailable, std::strerror(errno));
    if (n > 0) sent += static_cast<std::size_t>(n);
  }

  wire::frame_splitter splitter;
  std::vector<std::uint8_t> plain;
  auto take = [&](const std::uint8_t* data, std::size_t n) -> result<std::optional<wire::opened_frame>> {
    plain.clear();
    if (auto st = session.open({data, n}, plain); !st) return st.err();
    if (auto st = splitter.feed(plain); !st) return st.err();
    while (auto f = splitter.pop()) {
      auto opened = wire::open(std::move(*f));
      if (!opened) return opened.err();
      if (opened->sender_key() != node.pk) return make_error(errc::invalid_input, "reply not signed by the node");
      if (is_answer(opened->message())) return std::optional<wire::opened_frame>(std::move(*opened));
    }
    return std::optional<wire::opened_frame>();
  };
  if (!leftover.empty()) {
    auto got = take(leftover.data(), leftover.size());
    if (!got) return got.err();
    if (*got) return std::move(**got);
  }
  std::uint8_t buf[1 << 16];
  for (;;) {
    if (auto st = wait_for(POLLIN); !st) return st.err();
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n == 0) return make_error(errc::unavailable, address + " closed the connection (see its log for why)");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(errc::unavailable, std::strerror(errno));
    }
    auto got = take(buf, static_cast<std::size_t>(n));
    if (!got) return got.err();
    if (*got) return std::move(**got);
  }
}

result<std::string> ctl_request(const credentials& as, const std::string& address, const std::string& command,
                                const std::vector<std::string>& args, double timeout_seconds) {
  capnp::MallocMessageBuilder mb;
  auto req = mb.initRoot<Message>().initCtlRequest();
  req.setRequestId(1);
  req.setCommand(command);
  auto list = req.initArgs(static_cast<unsigned>(args.size()));
  for (std::size_t i = 0; i < args.size(); ++i) list.set(static_cast<unsigned>(i), args[i]);
  auto f = exchange(as, address, mb, [](Message::Reader m) { return m.which() == Message::CTL_REPLY; },
                    timeout_seconds);
  if (!f) return f.err();
  auto reply = f->message().getCtlReply();
  if (!reply.getOk()) return make_error(errc::invalid_input, reply.getJson());
  return std::string(reply.getJson());
}

result<std::string> publish_revocation(const credentials& op, const std::string& address,
                                       const wire::public_key& revoked, double timeout_seconds) {
  auto head_text = ctl_request(op, address, "ledger", {"head", to_hex(op.id.pk)}, timeout_seconds);
  if (!head_text) return head_text.err();
  const auto head = nlohmann::json::parse(*head_text, nullptr, false);
  if (!head.is_object() || !head.contains("seq") || !head.contains("hash"))
    return make_error(errc::invalid_input, address + " answered ledger head with " + head_text->substr(0, 200));
  ledger::entry e;
  e.k = ledger::kind::revocation;
  e.subject = trust::revocation_subject(revoked);
  e.payload = trust::revocation_payload({revoked, 0, op.id.pk, default_env().unix_seconds()});
  const auto seq = head["seq"].get<std::int64_t>();
  e.seq = static_cast<std::uint64_t>(seq + 1);
  if (seq >= 0) {
    auto prev = parse_key_hex(head["hash"].get<std::string>());  // a 32-byte hash in hex, like a key
    if (!prev) return make_error(errc::invalid_input, address + ": malformed head hash");
    std::memcpy(e.prev.data(), prev->data(), e.prev.size());
  }
  e = ledger::sign(std::move(e), op.id);
  auto stored = ctl_request(op, address, "ledger", {"submit", to_hex(ledger::encode(e))}, timeout_seconds);
  if (!stored) return stored.err();
  return to_hex(ledger::entry_hash(e));
}

}  // namespace hydra::actors
