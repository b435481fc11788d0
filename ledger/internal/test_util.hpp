#pragma once
/// Test helpers: build valid per-author chains.

#include <string>
#include <vector>

#include "ledger/chain.hpp"
#include "ledger/entry.hpp"

namespace hydra::ledger::testing {

/// A signed entry that extends `author`'s chain after `prev_entry` (or starts
/// it at seq 0 when `prev_entry` is null).
inline entry next_entry(const wire::identity& author, const entry* prev_entry, kind k, std::string subject,
                        std::int64_t amount, std::string payload = "{}") {
  entry e;
  e.k = k;
  e.seq = prev_entry ? prev_entry->seq + 1 : 0;
  e.prev = prev_entry ? entry_hash(*prev_entry) : digest256{};
  e.subject = std::move(subject);
  e.amount = amount;
  e.payload = std::move(payload);
  return sign(std::move(e), author);
}

/// `n` chained entries by `author`: rewards to subject "s<i % 3>" of i+1.
inline std::vector<entry> make_chain(const wire::identity& author, int n) {
  std::vector<entry> out;
  for (int i = 0; i < n; ++i) {
    const kind k = i % 4 == 3 ? kind::penalty : (i % 2 ? kind::compute_credit : kind::reward);
    std::string subject = "s";  // built with += (GCC 12 -Wrestrict false positive on "s" + str)
    subject += std::to_string(i % 3);
    std::string payload = "{\"i\":";
    payload += std::to_string(i);
    payload += '}';
    out.push_back(next_entry(author, out.empty() ? nullptr : &out.back(), k, subject, i + 1, payload));
  }
  return out;
}

}  // namespace hydra::ledger::testing
