#pragma once
/// BOINC-style quorum over data-quality scores, and the scorer trust that
/// weights it. Pure: no I/O.
///
/// Several scorers score the same contribution independently; `decide` says
/// whether their votes agree well enough to settle the contribution's score.
/// Each vote is weighted by its scorer's trust, which `trust_table` folds
/// from the ledger's reward/penalty entries: a scorer that keeps being
/// outvoted loses weight quickly and, below `min_trust`, is not asked again.

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ledger/authority.hpp"
#include "ledger/entry.hpp"
#include "ledger/roles.hpp"

namespace hydra::ledger {

struct vote {
  public_key scorer{};
  double score = 0;  ///< in [0, ~1.5]
};

struct quorum_rule {
  std::size_t min_votes = 2;  ///< agreeing votes needed to decide
  std::size_t max_votes = 4;  ///< votes after which a quorum without agreement fails
  double tolerance = 0.15;    ///< a vote agrees when |score - median| <= tolerance
  double accept = 0.6;        ///< a decided score at or above this is accepted
};

struct quorum_outcome {
  enum class state { need_more, decided, failed };
  state st = state::need_more;
  /// The quorum's value: the trust-weighted median of the agreeing votes (of
  /// all votes when none agree; 0 while fewer than min_votes votes are in).
  double score = 0;
  bool accepted = false;  ///< st == decided && score >= rule.accept
  /// Scorers within tolerance of the trust-weighted median of all votes, and
  /// the others; each sorted by key. Final only when st == decided (for
  /// need_more and failed they are the current, provisional split).
  std::vector<public_key> agreeing, outvoted;

  bool operator==(const quorum_outcome&) const = default;
};

/// Decides a quorum over `votes`, each weighted by trust[scorer] (1 for a
/// scorer not in `trust`; negative or NaN trust counts as 0; if every weight
/// is 0 all count 1).
///
/// Only a scorer's first vote counts; votes with a non-finite score are
/// ignored. With n distinct votes:
///   n < min_votes                         -> need_more
///   m = trust-weighted median of all votes (the midpoint of the two middle
///       scores when the weight splits exactly in half)
///   agreeing = votes with |score - m| <= tolerance, outvoted = the others
///   agreeing count >= min_votes and agreeing weight > half the total weight
///                                          -> decided
///   otherwise                              -> failed if n >= max_votes,
///                                             else need_more
/// For distinct scorers the outcome does not depend on the order of `votes`.
quorum_outcome decide(const std::vector<vote>& votes, const std::map<public_key, double>& trust,
                      const quorum_rule& rule = {});

/// Scorers below this trust are not asked to score.
inline constexpr double min_trust = 0.34;

/// Trust of scorers: a deterministic fold over ledger entries, checked
/// against the scorers' own signed scores.
///
/// A `reward` or `penalty` entry whose payload is a JSON object with a
/// "contribution" id, a numeric quorum "score" and arrays "agreeing" and
/// "outvoted" of scorer keys (64 hex digits, as `to_hex` writes the 32 key
/// bytes) is an outcome. Its listed scorers are judged by evidence, not by
/// which list the author put them in: a listed scorer counts only if the
/// table holds that scorer's own `score` entry for the contribution (its
/// subject; amount = score x 1000), and it agreed when that score is within
/// `tolerance` of the stated quorum score, else it was outvoted. An outcome
/// whose stated score lies outside the range of its evidenced scores is
/// ignored (no median can be there), and so is every outcome after the
/// first for the same contribution (by entry hash, smallest first). So a
/// node cannot make an honest scorer "outvoted" by writing so: it would need
/// that scorer's signature on a score far from the quorum's.
///   trust = (1 + agreed) / (1 + agreed + 4 * outvoted)
/// so a new scorer starts at 1.0 and each outvote costs a lot (1 outvote
/// among 10 agreements gives 11/15; a single outvote alone gives 1/5).
///
/// Ignored, never thrown on: other kinds; payloads that are not such an
/// object; lists with an element that is not a 64-digit hex key, or a scorer
/// in both lists. An entry observed a second time (same entry_hash) counts
/// once. The result depends only on the set of entries, not their order
/// (scores may arrive after the outcome that cites them).
///
/// With an `authority` (production passes one; the same rules as
/// ledger_state's, see ledger/roles.hpp): a score counts only from an author
/// holding the scorer or trainer role (scorers today are trainers), an
/// outcome only from an author holding collector or ledger, and neither when
/// a revocation cuts it. The table also observes admission and revocation
/// entries for that; "first by smallest hash" picks among the entries that
/// count. Without one (nullptr), any author counts, as before.
class trust_table {
 public:
  /// `auth` (may be null) must outlive the table.
  explicit trust_table(double tolerance = quorum_rule{}.tolerance, const authority* auth = nullptr)
      : tolerance_(tolerance), book_(auth) {}
  void observe(const entry& e);

  /// 1.0 for a scorer never judged.
  double trust(const public_key& k) const;
  /// Every scorer judged so far and its trust (a valid `decide` argument).
  const std::map<public_key, double>& all() const;
  std::size_t agreed(const public_key& k) const;
  std::size_t outvoted(const public_key& k) const;

 private:
  struct counts {
    std::size_t agreed = 0;
    std::size_t outvoted = 0;
  };
  struct score_record {
    digest256 hash{};
    std::uint64_t seq = 0;
    double score = 0;
  };
  struct outcome_record {
    digest256 hash{};
    public_key author{};
    std::uint64_t seq = 0;
    double score = 0;
    std::set<public_key> listed;
  };
  bool counted(const public_key& author, std::uint64_t seq, std::uint32_t any_role) const;
  void refresh() const;

  double tolerance_;
  role_book book_;
  std::set<digest256> seen_;
  /// contribution -> scorer -> its score entries; the smallest hash that
  /// counts wins.
  std::map<std::string, std::map<public_key, std::vector<score_record>>> scores_;
  /// contribution -> its outcome entries; the smallest hash that counts wins.
  std::map<std::string, std::vector<outcome_record>> outcomes_;
  mutable bool dirty_ = false;
  mutable std::map<public_key, counts> counts_;
  mutable std::map<public_key, double> trust_;
};

/// The payload of a reward/penalty entry recording `o`: the JSON text
///   {"contribution": id, "score": s, "agreeing": [hex...], "outvoted": [hex...]}
/// with the fields of `extra` (a JSON object text; empty for none) merged in.
/// The four fields above win over same-named fields of `extra`.
/// Throws std::invalid_argument when `extra` is not empty and not a JSON
/// object.
std::string outcome_payload(const std::string& contribution_id, const quorum_outcome& o,
                            const std::string& extra = "");

}  // namespace hydra::ledger
