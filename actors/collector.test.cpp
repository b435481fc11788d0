// The collector's bounds: no key can make it hold unbounded pending
// contributions, grow its near-duplicate index without end, or run
// unbounded scoring passes.

#include "actors/collector.hpp"

#include <gtest/gtest.h>

#include <capnp/serialize.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "wire/identity.hpp"

namespace hydra::actors {
namespace {

struct fake_host {
  std::vector<peer_ref> peers;
  double clock = 0;
  std::vector<kj::Array<capnp::word>> replies;
  service_host host() {
    service_host h;
    h.send_to = [](const std::string&, capnp::MallocMessageBuilder&) {};
    h.reply = [this](conn_id, capnp::MallocMessageBuilder& mb) { replies.push_back(capnp::messageToFlatArray(mb)); };
    h.live = [this] { return peers; };
    h.now = [this] { return clock; };
    return h;
  }
};

node_id id_of(std::uint8_t b) {
  node_id id{};
  id.fill(b);
  return id;
}

/// n random 28x28 images (distinct from every other call's), as pixels.
std::vector<std::vector<std::uint8_t>> random_images(std::size_t n) {
  static rng r(42);
  std::vector<std::vector<std::uint8_t>> out(n, std::vector<std::uint8_t>(28 * 28));
  for (auto& img : out)
    for (auto& p : img) p = static_cast<std::uint8_t>(r.below(256));
  return out;
}

std::vector<data::contribution_file> as_csv(const std::vector<std::vector<std::uint8_t>>& images) {
  std::string text;
  for (const auto& img : images) {
    text += "3";
    for (auto p : img) text += "," + std::to_string(p);
    text += "\n";
  }
  return {{"samples.csv", text}};
}

class Collector : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hydra-collector-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto l = ledger_sync::open(dir_.string(), me_, ledger_host_.host());
    ASSERT_TRUE(l) << l.err().message;
    ledger_ = std::move(*l);
  }
  void TearDown() override {
    c_.reset();
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }
  collector& make(collector_config cfg) {
    c_ = std::make_unique<collector>(cfg, me_, host_.host(), *ledger_, nullptr,
                                     std::make_shared<scorer>(data::dataset{}, std::make_shared<model_board>()));
    return *c_;
  }
  /// The verdict JSON if `done` was called at once (refused, rejected), else "" (pending).
  std::string submit(collector& c, const wire::public_key& key, const std::vector<std::vector<std::uint8_t>>& images) {
    std::string got;
    c.submit(key, "csv", as_csv(images), [&](bool, const std::string& json) { got = json; });
    return got;
  }
  void seen(collector& c, const node_id& from, const std::vector<std::vector<std::uint8_t>>& images) {
    capnp::MallocMessageBuilder mb;
    auto s = mb.initRoot<SamplesSeen>();
    s.setRows(28);
    s.setCols(28);
    auto px = s.initImages(static_cast<unsigned>(images.size() * 28 * 28));
    for (std::size_t i = 0; i < images.size(); ++i) std::copy(images[i].begin(), images[i].end(), px.begin() + i * 784);
    c.on_samples_seen(from, s.asReader());
  }
  std::size_t remote_seen(const collector& c) {
    return nlohmann::json::parse(c.status_json())["seen_remote"].get<std::size_t>();
  }
  std::string score(collector& c, const node_id& from) {
    capnp::MallocMessageBuilder mb;
    auto s = mb.initRoot<ScoreRequest>();
    s.setRequestId(1);
    s.setContribution("c");
    const auto key = wire::generate_identity().pk;
    s.setContributor(kj::arrayPtr(key.data(), key.size()));
    s.setRows(28);
    s.setCols(28);
    const auto img = random_images(1)[0];
    s.setImages(kj::arrayPtr(img.data(), img.size()));
    const std::uint8_t label = 1;
    s.setLabels(kj::arrayPtr(&label, 1));
    const std::size_t before = host_.replies.size();
    c.on_score_request(1, from, s.asReader());
    EXPECT_EQ(host_.replies.size(), before + 1);
    capnp::FlatArrayMessageReader r(host_.replies.back());
    return r.getRoot<Message>().getScoreReply().getReason();
  }

  std::filesystem::path dir_;
  wire::identity me_ = wire::generate_identity();
  fake_host ledger_host_, host_;
  std::unique_ptr<ledger_sync> ledger_;
  std::unique_ptr<collector> c_;
};

TEST_F(Collector, PendingContributionsAreCappedPerKeyAndInAll) {
  collector_config cfg;
  cfg.max_pending_per_contributor = 2;
  cfg.max_pending = 3;
  auto& c = make(cfg);
  const auto a = wire::generate_identity().pk, b = wire::generate_identity().pk, d = wire::generate_identity().pk;
  EXPECT_EQ(submit(c, a, random_images(3)), "");
  EXPECT_EQ(submit(c, a, random_images(3)), "");
  const auto refused = nlohmann::json::parse(submit(c, a, random_images(3)));
  EXPECT_EQ(refused["status"], "refused");
  EXPECT_EQ(refused["reason"], "too many pending contributions from " + account_of(a) + " (limit 2)");
  EXPECT_EQ(submit(c, b, random_images(3)), "");
  const auto full = nlohmann::json::parse(submit(c, d, random_images(3)));
  EXPECT_EQ(full["reason"], "too many pending contributions in all (limit 3)");
  EXPECT_EQ(nlohmann::json::parse(c.status_json())["pending"], 3);
}

TEST_F(Collector, SamplesSeenBeyondASendersQuotaAreDropped) {
  collector_config cfg;
  cfg.max_seen_per_sender = 10;
  cfg.seen_window = 100;
  auto& c = make(cfg);
  seen(c, id_of(1), random_images(15));
  EXPECT_EQ(remote_seen(c), 10u);
  seen(c, id_of(1), random_images(5));
  EXPECT_EQ(remote_seen(c), 10u);
  seen(c, id_of(2), random_images(5));  // another sender has its own quota
  EXPECT_EQ(remote_seen(c), 15u);
  host_.clock = 101;  // a new window
  seen(c, id_of(1), random_images(5));
  EXPECT_EQ(remote_seen(c), 20u);
}

TEST_F(Collector, SamplesSeenIndexForgetsTheOldestPastItsCap) {
  collector_config cfg;
  cfg.max_seen_remote = 20;
  auto& c = make(cfg);
  const auto first = random_images(10), second = random_images(10), third = random_images(10);
  seen(c, id_of(1), first);
  seen(c, id_of(2), second);
  seen(c, id_of(3), third);
  EXPECT_EQ(remote_seen(c), 20u);
  const auto me = wire::generate_identity().pk;
  EXPECT_EQ(submit(c, me, first), "") << "the oldest samples are forgotten: new again";
  const auto dup = submit(c, me, third);
  ASSERT_NE(dup, "");
  EXPECT_EQ(nlohmann::json::parse(dup)["status"], "duplicate");
}

TEST_F(Collector, ScoreRequestsBeyondARequestersLimitAreAnsweredBusy) {
  collector_config cfg;
  cfg.max_scores_per_requester = 2;
  cfg.score_window = 60;
  auto& c = make(cfg);
  EXPECT_EQ(score(c, id_of(1)).rfind("busy", 0), std::string::npos);
  EXPECT_EQ(score(c, id_of(1)).rfind("busy", 0), std::string::npos);
  EXPECT_EQ(score(c, id_of(1)), "busy: too many score requests from " + id_short(id_of(1)) + " (limit 2 per 60 s)");
  EXPECT_EQ(score(c, id_of(2)).rfind("busy", 0), std::string::npos);  // its own budget
  host_.clock = 61;
  c.tick();
  EXPECT_EQ(score(c, id_of(1)).rfind("busy", 0), std::string::npos);
}

}  // namespace
}  // namespace hydra::actors
