#include "ops/metrics.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <set>
#include <sstream>

#include "ops/status_server.hpp"

namespace hydra::ops {
namespace {

nlohmann::json sample_status() {
  return nlohmann::json::parse(R"({
    "view": {"node": "aa", "address": "127.0.0.1:7400", "routing_table_size": 3, "peers": [
      {"id": "aa", "self": true, "state": "alive", "cert_days_left": 2.0, "address": "127.0.0.1:7400"},
      {"id": "bb", "self": false, "state": "alive", "address": "127.0.0.1:7401"},
      {"id": "cc", "self": false, "state": "suspect", "address": "127.0.0.1:7402"},
      {"id": "dd", "self": false, "state": "dead", "address": "127.0.0.1:7403"},
      {"id": "ee", "self": false, "state": "alive", "address": "127.0.0.1:7404"}]},
    "cpu_limit": 50, "ledger_replicas": 3, "control_bytes_sent": 1234, "control_bytes_received": 99,
    "contributions": {"accepted": 4, "rejected": 2, "pending": 1, "pool": 300, "trust": {}},
    "ledger": {"entries": 17, "authors": 5, "rejected": 1, "pending_acks": 0},
    "balances": {"x": 10}})");
}

/// name{labels} -> value, and which names have HELP and TYPE.
struct parsed {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
};

parsed parse(const std::string& text) {
  parsed p;
  std::istringstream in(text);
  std::string line;
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      p.helps.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const auto rest = line.substr(7);
      p.types[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
    } else {
      std::smatch m;
      EXPECT_TRUE(std::regex_match(line, m, sample)) << "not a sample line: " << line;
      if (!m.empty()) p.samples[m[1].str() + m[2].str()] = std::stod(m[3].str());
    }
  }
  return p;
}

TEST(Metrics, NodeFiguresFollowTheStatus) {
  node_facts f{"0.1.0", "aa", "", "p2p", "loopback", "loopback"};
  auto p = parse(render_prometheus(f, sample_status(), nullptr));
  EXPECT_EQ(p.samples["hydra_build_info{version=\"0.1.0\"}"], 1);
  EXPECT_EQ(p.samples["hydra_node_up"], 1);
  EXPECT_EQ(p.samples["hydra_peers{state=\"alive\"}"], 2);  // self excluded
  EXPECT_EQ(p.samples["hydra_peers{state=\"suspect\"}"], 1);
  EXPECT_EQ(p.samples["hydra_peers{state=\"dead\"}"], 1);
  EXPECT_DOUBLE_EQ(p.samples["hydra_cpu_limit_ratio"], 0.5);
  EXPECT_DOUBLE_EQ(p.samples["hydra_certificate_expiry_seconds"], 2 * 86400.0);
  EXPECT_EQ(p.samples["hydra_network_transmit_bytes_total{backend=\"control\",link_class=\"loopback\"}"], 1234);
  EXPECT_EQ(p.samples["hydra_network_receive_bytes_total{backend=\"control\",link_class=\"loopback\"}"], 99);
  EXPECT_EQ(p.samples["hydra_contributions_total{verdict=\"accepted\"}"], 4);
  EXPECT_EQ(p.samples["hydra_contributions_total{verdict=\"rejected\"}"], 2);
  EXPECT_EQ(p.samples["hydra_ledger_entries"], 17);
  EXPECT_EQ(p.samples["hydra_ledger_replicas"], 3);
  EXPECT_EQ(p.samples.count("hydra_train_step"), 0u);  // no trainer
  // Every family has HELP and TYPE; counters end in _total.
  for (const auto& [name, type] : p.types) {
    EXPECT_TRUE(p.helps.count(name)) << name;
    if (type == "counter") EXPECT_TRUE(name.ends_with("_total")) << name;
    EXPECT_TRUE(name.rfind("hydra_", 0) == 0) << name;
  }
}

TEST(Metrics, TrainerFiguresAndADownNode) {
  train_metrics t;
  t.step = 40;
  t.total_steps = 100;
  t.samples = 2560;
  t.groups = 3;
  t.bytes_sent = 1000;
  t.bytes_received = 900;
  t.loss = 0.75;
  t.test_accuracy = 0.8125;
  node_facts f{"0.1.0", "aa", "", "p2p", "loopback", "lan"};
  auto p = parse(render_prometheus(f, nlohmann::json(), &t));
  EXPECT_EQ(p.samples["hydra_node_up"], 0);
  EXPECT_EQ(p.samples.count("hydra_peers{state=\"alive\"}"), 0u);
  EXPECT_EQ(p.samples["hydra_train_step"], 40);
  EXPECT_EQ(p.samples["hydra_train_samples_total"], 2560);
  EXPECT_EQ(p.samples["hydra_train_group_reforms_total"], 2);
  EXPECT_DOUBLE_EQ(p.samples["hydra_train_test_accuracy_ratio"], 0.8125);
  auto q = parse(render_prometheus(f, sample_status(), &t));
  EXPECT_EQ(q.samples["hydra_network_transmit_bytes_total{backend=\"p2p\",link_class=\"lan\"}"], 1000);
  EXPECT_EQ(q.samples["hydra_network_receive_bytes_total{backend=\"p2p\",link_class=\"lan\"}"], 900);
}

TEST(Metrics, LabelValuesAreEscaped) {
  node_facts f{"1\"2\\3\n4", "aa", "", "", "loopback", ""};
  const auto text = render_prometheus(f, nlohmann::json(), nullptr);
  EXPECT_NE(text.find(R"(hydra_build_info{version="1\"2\\3\n4"} 1)"), std::string::npos) << text;
}

TEST(Metrics, LinkClasses) {
  EXPECT_EQ(link_class_of("127.0.0.1:7400"), "loopback");
  EXPECT_EQ(link_class_of("[::1]:7400"), "loopback");
  EXPECT_EQ(link_class_of("localhost:1"), "loopback");
  EXPECT_EQ(link_class_of("192.168.1.4:7400"), "lan");
  EXPECT_EQ(link_class_of("10.0.0.1:1"), "lan");
  EXPECT_EQ(link_class_of("172.20.0.1:1"), "lan");
  EXPECT_EQ(link_class_of("172.32.0.1:1"), "wan");
  EXPECT_EQ(link_class_of("[fe80::1]:1"), "lan");
  EXPECT_EQ(link_class_of("8.8.8.8:53"), "wan");
}

TEST(Metrics, HistoryStaysBoundedAndKeepsTheEnds) {
  bounded_history h(16);
  for (int i = 0; i < 1000; ++i) h.add({double(i), std::uint64_t(i), std::uint64_t(i), double(i)});
  const auto pts = h.points();
  EXPECT_LT(pts.size(), 16u);
  EXPECT_GE(pts.size(), 4u);
  EXPECT_EQ(pts.front().step, 0u);
  for (std::size_t i = 1; i < pts.size(); ++i) EXPECT_GT(pts[i].step, pts[i - 1].step);
}

TEST(StatusServer, ServesMetricsStatusAndPage) {
  auto t = std::make_shared<train_metrics>();
  t->step = 5;
  t->total_steps = 10;
  t->loss_curve.add({1.0, 1, 64, 2.3});
  status_sources src{{"0.1.0", "aa", "", "p2p", "loopback", "loopback"}, [] { return sample_status(); }, t};
  auto s = status_server::start("127.0.0.1:0", src);
  ASSERT_TRUE(s) << s.err().message;
  const auto addr = (*s)->address();
  httplib::Client c(addr);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("hydra_train_step 5"), std::string::npos);
  EXPECT_NE(m->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  auto st = c.Get("/api/status");
  ASSERT_TRUE(st);
  auto j = nlohmann::json::parse(st->body);
  EXPECT_EQ(j["train"]["step"], 5);
  EXPECT_EQ(j["train"]["loss_curve"].size(), 1u);
  EXPECT_EQ(j["view"]["peers"].size(), 5u);
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("id=\"peers\""), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos);  // nothing fetched from elsewhere
  EXPECT_EQ(page->body.find("https://"), std::string::npos);
  EXPECT_EQ(c.Get("/nope")->status, 404);
}

TEST(StatusServer, BadAddressesAreRefused) {
  status_sources src{{"0.1.0"}, nullptr, nullptr};
  EXPECT_FALSE(status_server::start("nonsense", src));
  EXPECT_FALSE(status_server::start("127.0.0.1:99999", src));
  EXPECT_FALSE(status_server::start("127.0.0.1:80x", src));
  EXPECT_FALSE(status_server::start("203.0.113.7:0", src));  // not an address of this machine
  auto a = status_server::start("127.0.0.1:0", src);
  ASSERT_TRUE(a);
  EXPECT_FALSE(status_server::start((*a)->address(), src));  // in use
}

}  // namespace
}  // namespace hydra::ops
