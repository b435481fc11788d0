#pragma once
/// The node's HTTP port (`hydra node --metrics HOST:PORT`), on cpp-httplib:
///   /metrics      Prometheus text format (ops/metrics.hpp)
///   /api/status   the status page's data as JSON
///   /             the status page: one self-contained HTML file whose
///                 script polls /api/status (nothing from the internet)
/// Read-only: nothing served here changes the node. It is plain HTTP with
/// no authentication, so bind it to loopback or a management network.

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/train_metrics.hpp"
#include "ops/metrics.hpp"

namespace hydra::ops {

struct status_sources {
  node_facts facts;
  /// The node actor's status JSON (null when it did not answer in time).
  std::function<nlohmann::json()> node_status;
  std::shared_ptr<train_metrics> train;  ///< null on a node that does not train
};

class status_server {
 public:
  /// Binds host:port (port 0 = any free port) and serves on a thread of its
  /// own. Errors: the address does not parse or cannot be bound.
  static result<std::unique_ptr<status_server>> start(const std::string& address, status_sources src);
  ~status_server();
  status_server(const status_server&) = delete;
  status_server& operator=(const status_server&) = delete;
  /// "host:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  struct impl;
  explicit status_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
  std::string address_;
};

/// The status page (HTML with its script inline).
const std::string& status_page_html();

}  // namespace hydra::ops
