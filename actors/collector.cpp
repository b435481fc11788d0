#include "actors/collector.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/hash.hpp"

namespace hydra::actors {
namespace {

std::string short_id(const std::string& hex) { return hex.substr(0, 12); }

/// Writes `text` to `path` durably: temp file, fsync, rename, fsync folder.
status write_durable(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errc::io, tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return make_error(errc::io, path + ": cannot write");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace

std::string account_of(const wire::public_key& pk) { return id_hex(wire::id_of(pk)); }

collector::collector(collector_config cfg, const wire::identity& me, service_host host, ledger_sync& ledger,
                     std::shared_ptr<sample_pool> pool, std::shared_ptr<scorer> own_scorer)
    : cfg_(std::move(cfg)),
      me_(me),
      host_(std::move(host)),
      ledger_(ledger),
      pool_(std::move(pool)),
      scorer_(std::move(own_scorer)),
      trust_(cfg_.rule.tolerance, cfg_.authority) {
  for (const auto& e : ledger_.state().entries()) trust_.observe(e);
  load_accepted();
}

collector::~collector() = default;

void collector::load_accepted() {
  if (cfg_.state_dir.empty()) return;
  const std::string dir = cfg_.state_dir + "/contributions";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::size_t files = 0, samples = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".csv") continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto d = data::parse_contribution("csv", {{f.path().filename().string(), std::move(text)}}, cfg_.limits);
    if (!d) {
      spdlog::warn("ignoring stored contribution {}: {}", f.path().string(), d.err().message);
      continue;
    }
    for (std::size_t i = 0; i < d->size(); ++i)
      seen_.add(std::span<const float>(d->images.data() + i * d->sample_size(), d->sample_size()));
    if (pool_) pool_->add(*d);
    ++files;
    samples += d->size();
  }
  if (files) spdlog::info("reloaded {} accepted contributions ({} samples) into the training pool", files, samples);
}

status collector::store_accepted(const job& j) {
  if (cfg_.state_dir.empty()) return {};
  const std::string dir = cfg_.state_dir + "/contributions";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return write_durable(dir + "/" + j.id + ".csv", data::to_csv(j.samples, 0, j.samples.size()));
}

void collector::on_contribute(conn_id conn, const wire::public_key& contributor, Contribute::Reader r) {
  // The frame is at most 64 MiB; parse_contribution enforces the
  // contribution's own byte limit before parsing anything.
  std::vector<data::contribution_file> files;
  for (auto f : r.getFiles()) {
    const auto bytes = f.getData();
    files.push_back({f.getName(), std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size())});
  }
  const std::uint64_t request = r.getRequestId();
  const bool wait = r.getWait();
  auto reply = [this, conn, request](bool ok, const std::string& json) {
    capnp::MallocMessageBuilder mb;
    auto rep = mb.initRoot<Message>().initContributeReply();
    rep.setRequestId(request);
    rep.setOk(ok);
    rep.setJson(json);
    host_.reply(conn, mb);
  };
  if (wait) {
    submit(contributor, r.getFormat(), std::move(files), reply);
  } else {
    // Answer at once with the validation result; the verdict follows in the ledger.
    auto answered = std::make_shared<bool>(false);
    submit(contributor, r.getFormat(), std::move(files), [reply, answered](bool ok, const std::string& json) {
      if (!*answered) reply(ok, json);
      *answered = true;
    });
    if (!*answered) reply(true, nlohmann::json({{"status", "pending"}}).dump());
    *answered = true;
  }
}

void collector::submit(const wire::public_key& contributor, const std::string& format,
                       std::vector<data::contribution_file> files, verdict_fn done) {
  // The contribution id: contributor key + every file's name and bytes.
  std::string material(reinterpret_cast<const char*>(contributor.data()), contributor.size());
  material += format;
  for (const auto& f : files) {
    material += f.name;
    material.push_back('\0');
    material += to_hex(blake2b_256(std::as_bytes(std::span(f.bytes.data(), f.bytes.size()))));
  }
  const std::string id =
      to_hex(blake2b_256(std::as_bytes(std::span(material.data(), material.size()))));
  const std::string account = account_of(contributor);
  nlohmann::json verdict = {{"contribution", id}, {"contributor", account}, {"format", format}};

  auto reject = [&](const std::string& status, const std::string& reason, std::size_t submitted, std::size_t dups,
                    std::int64_t penalty) {
    verdict["status"] = status;
    verdict["reason"] = reason;
    verdict["submitted"] = submitted;
    verdict["duplicates"] = dups;
    verdict["accepted"] = 0;
    verdict["penalty"] = penalty;
    nlohmann::json rec = {{"contribution", id},     {"format", format},   {"status", status},
                          {"submitted", submitted}, {"duplicates", dups}, {"reason", reason}};
    (void)ledger_.author(ledger::kind::contribution, account, 0, rec.dump());
    nlohmann::json pay = {{"contribution", id}, {"reason", reason}, {"samples", submitted}, {"status", status}};
    (void)ledger_.author(ledger::kind::penalty, account, penalty, pay.dump());
    ++rejected_;
    log_.push_back(verdict.dump());
    spdlog::info("contribution {} from {} rejected: {}", short_id(id), short_id(account), reason);
    done(false, verdict.dump());
  };

  if (jobs_.count(id)) {
    verdict["status"] = "pending";
    verdict["reason"] = "this contribution is already being scored";
    done(false, verdict.dump());
    return;
  }
  // Bounded before anything is parsed or written: each pending job holds
  // its samples until the quorum decides.
  std::size_t mine = 0;
  for (const auto& [other, pj] : jobs_) mine += pj.contributor == contributor;
  if (mine >= cfg_.max_pending_per_contributor || jobs_.size() >= cfg_.max_pending) {
    const std::string reason =
        mine >= cfg_.max_pending_per_contributor
            ? "too many pending contributions from " + account + " (limit " +
                  std::to_string(cfg_.max_pending_per_contributor) + ")"
            : "too many pending contributions in all (limit " + std::to_string(cfg_.max_pending) + ")";
    verdict["status"] = "refused";
    verdict["reason"] = reason;
    spdlog::warn("contribution {} refused: {}", short_id(id), reason);
    done(false, verdict.dump());
    return;
  }
  auto parsed = data::parse_contribution(format, files, cfg_.limits);
  if (!parsed) {
    reject("invalid", parsed.err().message, 0, 0, cfg_.invalid_penalty);
    return;
  }
  // Duplicates of anything seen here (earlier contributions, or earlier in this one).
  data::dataset& d = *parsed;
  const std::size_t ss = d.sample_size(), n = d.size();
  data::dataset unique;
  unique.rows = d.rows;
  unique.cols = d.cols;
  unique.num_classes = d.num_classes;
  std::size_t dups = 0;
  std::vector<std::size_t> keep;
  data::dedup_index within;
  for (std::size_t i = 0; i < n; ++i) {
    std::span<const float> img(d.images.data() + i * ss, ss);
    if (seen_before(img) || within.check(img) != data::dup_kind::unique) {
      ++dups;
      continue;
    }
    within.add(img);
    keep.push_back(i);
  }
  if (keep.empty() || double(dups) > cfg_.max_duplicate_share * double(n)) {
    reject("duplicate",
           std::to_string(dups) + " of " + std::to_string(n) + " samples duplicate data this collector already has",
           n, dups, cfg_.penalty_per_sample * static_cast<std::int64_t>(dups));
    return;
  }
  unique.images.reserve(keep.size() * ss);
  for (std::size_t i : keep) {
    unique.images.insert(unique.images.end(), d.images.begin() + i * ss, d.images.begin() + (i + 1) * ss);
    unique.labels.push_back(d.labels[i]);
    seen_.add(std::span<const float>(d.images.data() + i * ss, ss));
  }
  // Every peer learns these samples, so a copy sent to another collector
  // is a duplicate there too.
  {
    capnp::MallocMessageBuilder mb;
    auto seen = mb.initRoot<Message>().initSamplesSeen();
    seen.setContribution(id);
    seen.setRows(static_cast<std::uint32_t>(unique.rows));
    seen.setCols(static_cast<std::uint32_t>(unique.cols));
    auto img = seen.initImages(static_cast<unsigned>(unique.images.size()));
    std::uint8_t* px = img.begin();
    for (std::size_t i = 0; i < unique.images.size(); ++i)
      px[i] = static_cast<std::uint8_t>(std::lround(std::clamp(unique.images[i], 0.0f, 1.0f) * 255.0f));
    for (const auto& p : host_.live()) host_.send_to(p.address, mb);
  }
  nlohmann::json rec = {{"contribution", id}, {"format", format},   {"status", "validated"},
                        {"submitted", n},     {"duplicates", dups}, {"unique", keep.size()}};
  (void)ledger_.author(ledger::kind::contribution, account, 0, rec.dump());
  if (dups) {
    nlohmann::json pay = {{"contribution", id}, {"reason", "duplicate samples"}, {"samples", dups}};
    (void)ledger_.author(ledger::kind::penalty, account, cfg_.penalty_per_sample * static_cast<std::int64_t>(dups),
                         pay.dump());
  }
  job j;
  j.id = id;
  j.contributor = contributor;
  j.samples = std::move(unique);
  j.submitted = n;
  j.duplicates = dups;
  j.done = std::move(done);
  j.created = host_.now();
  spdlog::info("contribution {} from {}: {} samples ({} duplicates dropped), asking scorers", short_id(id),
               short_id(account), n, dups);
  start(std::move(j));
}

void collector::start(job j) {
  auto [it, fresh] = jobs_.emplace(j.id, std::move(j));
  if (fresh) ask_scorers(it->second);
}

void collector::ask_scorers(job& j) {
  const double now = host_.now();
  // Votes in hand plus asks in flight: ask until min_votes (or one more than
  // the votes when the quorum needs more) would be reached.
  const auto outcome = ledger::decide(j.votes, trust_.all(), cfg_.rule);
  const std::size_t want =
      std::max<std::size_t>(cfg_.rule.min_votes, outcome.st == ledger::quorum_outcome::state::need_more &&
                                                         j.votes.size() >= cfg_.rule.min_votes
                                                     ? j.votes.size() + 1
                                                     : cfg_.rule.min_votes);
  if (j.votes.size() + j.asked.size() >= want) return;
  // Candidates: live trainers but us, trusted, not yet asked; nearest first.
  const digest256 key = blake2b_256(std::as_bytes(std::span(j.id.data(), j.id.size())));
  node_id target{};
  std::memcpy(target.data(), key.data(), target.size());
  std::vector<peer_ref> cands;
  for (auto& p : host_.live()) {
    if (!p.trainer || j.asked.count(p.id)) continue;
    if (j.tried.count(p.id) && !j.retry_at.count(p.id)) continue;
    if (auto r = j.retry_at.find(p.id); r != j.retry_at.end() && r->second > now) continue;
    bool voted = false;
    for (auto& v : j.votes) voted |= wire::id_of(v.scorer) == p.id;
    if (voted) continue;
    cands.push_back(p);
  }
  std::sort(cands.begin(), cands.end(), [&](const peer_ref& a, const peer_ref& b) {
    return xor_distance(a.id, target) < xor_distance(b.id, target);
  });
  // Scorers below min_trust are asked only when nobody else is left.
  std::stable_partition(cands.begin(), cands.end(), [&](const peer_ref& p) {
    for (auto& [pk, t] : trust_.all())
      if (wire::id_of(pk) == p.id) return t >= ledger::min_trust;
    return true;
  });
  for (const auto& p : cands) {
    if (j.votes.size() + j.asked.size() >= want) break;
    const std::uint64_t req = next_request_++;
    j.asked[p.id] = {req, now};
    j.tried.insert(p.id);
    j.retry_at.erase(p.id);
    capnp::MallocMessageBuilder mb;
    auto s = mb.initRoot<Message>().initScoreRequest();
    s.setRequestId(req);
    s.setContribution(j.id);
    s.setContributor(kj::arrayPtr(j.contributor.data(), j.contributor.size()));
    s.setRows(static_cast<std::uint32_t>(j.samples.rows));
    s.setCols(static_cast<std::uint32_t>(j.samples.cols));
    auto img = s.initImages(static_cast<unsigned>(j.samples.images.size()));
    for (std::size_t i = 0; i < j.samples.images.size(); ++i)
      img[i] = static_cast<std::uint8_t>(std::lround(std::clamp(j.samples.images[i], 0.0f, 1.0f) * 255.0f));
    s.setLabels(kj::arrayPtr(j.samples.labels.data(), j.samples.labels.size()));
    host_.send_to(p.address, mb);
  }
}

void collector::on_score_request(conn_id conn, const node_id& from, ScoreRequest::Reader r) {
  capnp::MallocMessageBuilder mb;
  auto rep = mb.initRoot<Message>().initScoreReply();
  rep.setRequestId(r.getRequestId());
  rep.setContribution(r.getContribution());
  rep.setOk(false);
  auto answer = [&](const std::string& reason) {
    rep.setReason(reason);
    host_.reply(conn, mb);
  };
  if (!scorer_) return answer("this node has no model to score with");
  // A scoring pass runs a training step on this node's thread: at most
  // max_scores_per_requester started per window for each requester.
  quota* q = quota_of(score_quota_, from, cfg_.score_window);
  if (!q || q->used >= cfg_.max_scores_per_requester) {
    const std::string why = "busy: too many score requests from " + id_short(from) + " (limit " +
                            std::to_string(cfg_.max_scores_per_requester) + " per " +
                            std::to_string(static_cast<long>(cfg_.score_window)) + " s)";
    if (q && !q->warned) spdlog::warn("dropped a score request: {}", why);
    if (q) q->warned = true;
    return answer(why);
  }
  ++q->used;
  // Read each Data field once (every read is charged to the traversal budget).
  const auto images = r.getImages();
  const auto labels = r.getLabels();
  const std::size_t rows = r.getRows(), cols = r.getCols(), n = labels.size();
  if (rows != std::size_t(cfg_.limits.rows) || cols != std::size_t(cfg_.limits.cols) || n == 0 ||
      n > cfg_.limits.max_samples || images.size() != n * rows * cols || r.getContributor().size() != 32)
    return answer("malformed score request");
  data::dataset d;
  d.rows = static_cast<int>(rows);
  d.cols = static_cast<int>(cols);
  d.labels.assign(labels.begin(), labels.end());
  for (auto l : d.labels)
    if (l >= d.num_classes) return answer("malformed score request: label out of range");
  d.images.resize(images.size());
  const std::uint8_t* px = images.begin();
  for (std::size_t i = 0; i < d.images.size(); ++i) d.images[i] = px[i] / 255.0f;
  auto s = scorer_->score(d);
  if (!s) return answer(s.err().message);
  if (cfg_.lie) s->score = 1.25 - s->score;  // the drill: a scorer that lies
  wire::public_key contributor{};
  std::memcpy(contributor.data(), r.getContributor().begin(), 32);
  nlohmann::json pay = {{"contribution", std::string(r.getContribution())},
                        {"contributor", account_of(contributor)},
                        {"collector", id_hex(from)},
                        {"score", s->score},
                        {"agreement", s->agreement},
                        {"loss_delta", s->loss_delta},
                        {"val_accuracy", s->val_accuracy},
                        {"model_step", s->model_step},
                        {"samples", n}};
  auto e = ledger_.author(ledger::kind::score, std::string(r.getContribution()),
                          static_cast<std::int64_t>(std::llround(s->score * 1000)), pay.dump());
  if (!e) return answer("cannot record the score: " + e.err().message);
  const auto bytes = ledger::encode(*e);
  rep.setOk(true);
  rep.setEntry(kj::arrayPtr(bytes.data(), bytes.size()));
  answer("");
}

void collector::on_score_reply(const node_id& from, ScoreReply::Reader r) {
  auto it = jobs_.find(r.getContribution());
  if (it == jobs_.end()) return;
  job& j = it->second;
  auto a = j.asked.find(from);
  if (a == j.asked.end() || a->second.request != r.getRequestId()) return;
  j.asked.erase(a);
  if (!r.getOk()) {
    const std::string reason = r.getReason();
    if (reason == "model not ready") j.retry_at[from] = host_.now() + cfg_.retry_not_ready;
    else spdlog::info("scorer {} declined {}: {}", id_short(from), short_id(j.id), reason);
    ask_scorers(j);
    return;
  }
  auto e = ledger::decode(std::span<const std::uint8_t>(r.getEntry().begin(), r.getEntry().size()));
  if (!e || e->k != ledger::kind::score || wire::id_of(e->author) != from || e->subject != j.id) {
    spdlog::warn("scorer {} sent an invalid score entry for {}", id_short(from), short_id(j.id));
    ask_scorers(j);
    return;
  }
  if (auto st = ledger_.accept(*e); !st) {
    spdlog::warn("score entry from {} rejected: {}", id_short(from), st.err().message);
    ask_scorers(j);
    return;
  }
  j.votes.push_back({e->author, double(e->amount) / 1000.0});
  const auto o = ledger::decide(j.votes, trust_.all(), cfg_.rule);
  if (o.st == ledger::quorum_outcome::state::need_more) {
    ask_scorers(j);
    return;
  }
  finish(j, o);
  jobs_.erase(it);
}

void collector::finish(job& j, const ledger::quorum_outcome& o) {
  const std::string account = account_of(j.contributor);
  const std::size_t n = j.samples.size();
  nlohmann::json verdict = {{"contribution", j.id}, {"contributor", account}, {"submitted", j.submitted},
                            {"duplicates", j.duplicates}, {"score", o.score}, {"votes", j.votes.size()}};
  nlohmann::json extra = {{"samples", n}, {"contributor", account}};
  bool ok = false;
  if (o.st == ledger::quorum_outcome::state::decided && o.accepted) {
    if (auto st = store_accepted(j); !st) spdlog::warn("contribution {}: {}", short_id(j.id), st.err().message);
    if (pool_) pool_->add(j.samples);
    const auto amount = static_cast<std::int64_t>(
        std::llround(double(cfg_.credit_per_sample) * double(n) * std::min(o.score, 1.0)));
    extra["status"] = "accepted";
    (void)ledger_.author(ledger::kind::reward, account, amount, ledger::outcome_payload(j.id, o, extra.dump()));
    verdict["status"] = "accepted";
    verdict["accepted"] = n;
    verdict["credited"] = amount;
    ++accepted_;
    ok = true;
  } else {
    const bool decided = o.st == ledger::quorum_outcome::state::decided;
    const std::int64_t amount = decided ? cfg_.penalty_per_sample * static_cast<std::int64_t>(n) : 0;
    extra["status"] = decided ? "rejected" : "undecided";
    (void)ledger_.author(ledger::kind::penalty, account, amount, ledger::outcome_payload(j.id, o, extra.dump()));
    verdict["status"] = decided ? "rejected" : "undecided";
    verdict["reason"] = decided ? "quorum score below the acceptance threshold" : "scorers did not agree";
    verdict["accepted"] = 0;
    verdict["penalty"] = amount;
    ++rejected_;
  }
  spdlog::info("contribution {} from {}: {} (score {:.3f}, {} votes)", short_id(j.id), short_id(account),
               verdict["status"].get<std::string>(), o.score, j.votes.size());
  log_.push_back(verdict.dump());
  if (log_.size() > 1000) log_.erase(log_.begin());
  if (j.done) j.done(ok, verdict.dump());
}

void collector::on_samples_seen(const node_id& from, SamplesSeen::Reader r) {
  const auto images = r.getImages();  // read once (traversal budget)
  const std::size_t rows = r.getRows(), cols = r.getCols(), ss = rows * cols;
  if (rows != std::size_t(cfg_.limits.rows) || cols != std::size_t(cfg_.limits.cols) || images.size() % ss ||
      images.size() / ss > cfg_.limits.max_samples) {
    spdlog::warn("malformed samplesSeen from {}", id_short(from));
    return;
  }
  // A peer's samples cost index memory and check time here: at most
  // max_seen_per_sender per window from each, max_seen_remote in all.
  const std::size_t count = images.size() / ss;
  quota* q = quota_of(seen_quota_, from, cfg_.seen_window);
  const std::size_t room = q ? cfg_.max_seen_per_sender - std::min(q->used, cfg_.max_seen_per_sender) : 0;
  const std::size_t take = std::min(count, room);
  if (take < count) {
    const bool first = q && !q->warned;
    if (q) q->warned = true;
    spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                "dropped {} of {} samplesSeen samples from {}: over its quota of {} per {} s", count - take, count,
                id_short(from), cfg_.max_seen_per_sender, cfg_.seen_window);
  }
  if (q) q->used += take;
  const std::size_t generation = std::max<std::size_t>(1, cfg_.max_seen_remote / 2);
  std::vector<float> img(ss);
  const std::uint8_t* px = images.begin();
  for (std::size_t i = 0; i < take; ++i) {
    for (std::size_t k = 0; k < ss; ++k) img[k] = px[i * ss + k] / 255.0f;
    if (seen_before(img)) continue;
    if (remote_[0].size() >= generation) {  // forget the older generation
      remote_[1] = std::move(remote_[0]);
      remote_[0] = data::dedup_index();
    }
    remote_[0].add(img);
  }
}

bool collector::seen_before(std::span<const float> img) const {
  return seen_.check(img) != data::dup_kind::unique || remote_[0].check(img) != data::dup_kind::unique ||
         remote_[1].check(img) != data::dup_kind::unique;
}

collector::quota* collector::quota_of(std::map<node_id, quota>& q, const node_id& from, double window) {
  const double now = host_.now();
  auto it = q.find(from);
  if (it == q.end()) {
    if (q.size() >= cfg_.max_tracked_peers)
      for (auto i = q.begin(); i != q.end();) i = now - i->second.since >= window ? q.erase(i) : std::next(i);
    if (q.size() >= cfg_.max_tracked_peers) return nullptr;
    it = q.emplace(from, quota{now, 0, false}).first;
  } else if (now - it->second.since >= window) {
    it->second = quota{now, 0, false};
  }
  return &it->second;
}

void collector::on_ledger_entry(const ledger::entry& e) { trust_.observe(e); }

void collector::tick() {
  const double now = host_.now();
  auto expire = [now](std::map<node_id, quota>& q, double window) {
    for (auto i = q.begin(); i != q.end();) i = now - i->second.since >= window ? q.erase(i) : std::next(i);
  };
  expire(seen_quota_, cfg_.seen_window);
  expire(score_quota_, cfg_.score_window);
  for (auto& [id, j] : jobs_) {
    for (auto it = j.asked.begin(); it != j.asked.end();) {
      if (now - it->second.since > cfg_.scorer_timeout) {
        spdlog::info("scorer {} did not answer for {} in {} s; asking another", id_short(it->first), short_id(id),
                     cfg_.scorer_timeout);
        it = j.asked.erase(it);
      } else {
        ++it;
      }
    }
    ask_scorers(j);
  }
}

std::string collector::status_json() const {
  nlohmann::json trust = nlohmann::json::object();
  for (const auto& [pk, t] : trust_.all()) trust[account_of(pk)] = t;
  nlohmann::json recent = nlohmann::json::array();
  for (const auto& v : log_) recent.push_back(nlohmann::json::parse(v));
  return nlohmann::json({{"pending", jobs_.size()},
                         {"seen_local", seen_.size()},
                         {"seen_remote", remote_[0].size() + remote_[1].size()},
                         {"accepted", accepted_},
                         {"rejected", rejected_},
                         {"pool", pool_ ? pool_->size() : 0},
                         {"trust", trust},
                         {"contributions", recent}})
      .dump();
}

}  // namespace hydra::actors
