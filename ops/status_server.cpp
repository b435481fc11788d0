#include "ops/status_server.hpp"

#include <httplib.h>

#include <thread>

namespace hydra::ops {

struct status_server::impl {
  httplib::Server http;
  std::thread thread;
  status_sources src;
};

status_server::status_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

status_server::~status_server() {
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

result<std::unique_ptr<status_server>> status_server::start(const std::string& address, status_sources src) {
  // HOST:PORT, [V6]:PORT.
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return make_error(errc::invalid_input, "--metrics: '" + address + "' is not HOST:PORT");
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return make_error(errc::invalid_input, "--metrics: bad port in '" + address + "'");

  auto p = std::make_unique<impl>();
  p->src = std::move(src);
  impl* raw = p.get();
  // Two workers: a scrape and a page load at once; idle threads sleep.
  p->http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a
  // second node bind the same port without an error.
  p->http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  p->http.set_read_timeout(5, 0);
  p->http.set_write_timeout(5, 0);
  p->http.set_keep_alive_max_count(20);
  p->http.Get("/metrics", [raw](const httplib::Request&, httplib::Response& res) {
    const auto st = raw->src.node_status ? raw->src.node_status() : nlohmann::json();
    res.set_content(render_prometheus(raw->src.facts, st, raw->src.train.get()), "text/plain; version=0.0.4; charset=utf-8");
  });
  p->http.Get("/api/status", [raw](const httplib::Request&, httplib::Response& res) {
    const auto st = raw->src.node_status ? raw->src.node_status() : nlohmann::json();
    res.set_header("Cache-Control", "no-store");
    res.set_content(status_document(raw->src.facts, st, raw->src.train.get()).dump(), "application/json");
  });
  p->http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_page_html(), "text/html; charset=utf-8");
  });
  int bound = port;
  if (port == 0) {
    bound = p->http.bind_to_any_port(host);
    if (bound <= 0) return make_error(errc::unavailable, "--metrics: cannot bind " + address);
  } else if (!p->http.bind_to_port(host, port)) {
    return make_error(errc::unavailable, "--metrics: cannot bind " + address + " (in use, or not an address here)");
  }
  p->thread = std::thread([raw] { raw->http.listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that a server
  // destroyed right away still stops.
  for (int i = 0; i < 5000 && !p->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::unique_ptr<status_server> s(new status_server(std::move(p)));
  s->address_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(bound);
  return s;
}

}  // namespace hydra::ops
