#pragma once
/// The collector and scorer roles of a node (run on the node actor).
///
/// Collector: a contributor (`hydra contribute`) sends files sealed with its
/// own key. The collector parses and validates them all-or-nothing
/// (data/contribution.hpp: format, shape, label range, size limits), drops
/// exact and near duplicates of anything it has seen, and records the
/// contribution in the ledger. Malformed files and duplicate floods are
/// rejected with a reason and a penalty. Otherwise it asks >= 2 scorers —
/// live trainers other than itself, trusted, nearest to the contribution id
/// by XOR distance — to score the samples; each scorer signs a `score`
/// entry. The quorum rule (ledger/quorum.hpp) decides; a scorer outvoted
/// repeatedly loses trust and is no longer asked. Accepted samples go to the
/// node's training pool (the trainer mixes them in from its next round) and
/// to STATE/contributions (fsync'd, reloaded on restart); the contributor is
/// credited in proportion to samples x score, or penalised.
///
/// Scorer: answers ScoreRequests with the current model (actors/scoring.hpp).
///
/// Bounds, so that no key can make this node hold or do unbounded work:
/// pending contributions per contributor key and in all (a refusal names
/// the key and the limit; nothing is written to the ledger for it); the
/// near-duplicate index fed by peers' SamplesSeen (a per-sender quota of
/// samples per window, beyond which samples are dropped and logged, and a
/// global cap: the index is kept in two generations and the older one is
/// forgotten when the newer fills); and scoring passes per requester (at
/// most N started per window; beyond, the request is answered "busy"
/// without scoring, and logged).

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/ledger_sync.hpp"
#include "actors/scoring.hpp"
#include "actors/services.hpp"
#include "data/contribution.hpp"
#include "ledger/quorum.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {

struct collector_config {
  std::string state_dir;                   ///< accepted data: state_dir/contributions
  double scorer_timeout = 20;              ///< seconds a scorer may take before another is asked
  double retry_not_ready = 2;              ///< seconds before asking a "not ready" scorer again
  std::int64_t credit_per_sample = 1000;   ///< milli-credits for one accepted sample at score 1
  std::int64_t penalty_per_sample = 1000;  ///< per duplicate or rejected sample
  std::int64_t invalid_penalty = 50000;    ///< a malformed contribution
  double max_duplicate_share = 0.5;        ///< above this the whole contribution is rejected
  ledger::quorum_rule rule;
  data::contribution_limits limits;
  bool lie = false;                        ///< drill: this node reports inverted scores (1.25 - score)
  const ledger::authority* authority = nullptr;  ///< scorer trust counts only scorers' entries (null: all)
  std::size_t max_pending_per_contributor = 2;  ///< contributions of one key being scored at once
  std::size_t max_pending = 16;                 ///< in all (each holds up to limits.max_samples samples)
  std::size_t max_seen_per_sender = 20000;      ///< SamplesSeen samples taken from one peer per window
  std::size_t max_seen_remote = 200000;         ///< SamplesSeen samples remembered in all (oldest forgotten)
  double seen_window = 3600;                    ///< seconds
  std::size_t max_scores_per_requester = 8;     ///< scoring passes started for one peer per window
  double score_window = 60;                     ///< seconds
  std::size_t max_tracked_peers = 4096;         ///< quota entries kept; past it, new peers wait for expiry
};

/// Account id for balances: BLAKE2b-256 of a public key, hex (a node's id).
std::string account_of(const wire::public_key& pk);

class collector {
 public:
  /// Called with (ok, verdict JSON) when a contribution is decided.
  using verdict_fn = std::function<void(bool ok, const std::string& json)>;

  collector(collector_config cfg, const wire::identity& me, service_host host, ledger_sync& ledger,
            std::shared_ptr<sample_pool> pool, std::shared_ptr<scorer> own_scorer);
  ~collector();

  /// A contributor's frame. Answers on `conn` (after validation, or after the
  /// quorum when the request asks to wait).
  void on_contribute(conn_id conn, const wire::public_key& contributor, Contribute::Reader r);
  /// The same pipeline for files found by a node's --watch folder.
  void submit(const wire::public_key& contributor, const std::string& format,
              std::vector<data::contribution_file> files, verdict_fn done);
  void on_score_request(conn_id conn, const node_id& from, ScoreRequest::Reader r);
  void on_score_reply(const node_id& from, ScoreReply::Reader r);
  /// Another collector's validated samples: they count as seen here too.
  void on_samples_seen(const node_id& from, SamplesSeen::Reader r);
  /// Every ledger entry this node stores (trust follows reward/penalty entries).
  void on_ledger_entry(const ledger::entry& e);
  void tick();

  /// {"pending": n, "accepted": n, "rejected": n, "pool": samples, "trust": {...}, "contributions": [...]}
  std::string status_json() const;

 private:
  struct ask {
    std::uint64_t request = 0;
    double since = 0;
  };
  struct job {
    std::string id;
    wire::public_key contributor{};
    data::dataset samples;  ///< unique, validated
    std::size_t submitted = 0, duplicates = 0;
    std::map<node_id, ask> asked;
    std::map<node_id, double> retry_at;  ///< scorers that were not ready
    std::set<node_id> tried;
    std::vector<ledger::vote> votes;
    verdict_fn done;
    double created = 0;
  };

  void start(job j);
  void ask_scorers(job& j);
  void finish(job& j, const ledger::quorum_outcome& o);
  void load_accepted();
  status store_accepted(const job& j);
  bool seen_before(std::span<const float> img) const;
  /// How many more units `from` may spend in `q` now (a window per peer).
  struct quota {
    double since = 0;
    std::size_t used = 0;
    bool warned = false;
  };
  quota* quota_of(std::map<node_id, quota>& q, const node_id& from, double window);

  collector_config cfg_;
  wire::identity me_;
  service_host host_;
  ledger_sync& ledger_;
  std::shared_ptr<sample_pool> pool_;
  std::shared_ptr<scorer> scorer_;
  data::dedup_index seen_;  ///< samples validated here (bounded by the pending and contribution limits)
  data::dedup_index remote_[2];  ///< peers' SamplesSeen: [0] newer, [1] older generation
  std::map<node_id, quota> seen_quota_, score_quota_;
  ledger::trust_table trust_;
  std::map<std::string, job> jobs_;  ///< pending, by contribution id
  std::vector<std::string> log_;     ///< verdict JSON of decided contributions (newest last)
  std::uint64_t next_request_ = 1, accepted_ = 0, rejected_ = 0;
};

}  // namespace hydra::actors
