// `hydra contribute`: submit labelled samples to a collector while the
// cluster trains. Each PATH is one contribution, sealed with the
// contributor's key (--as KEYFILE), so the credit goes to that key's
// account. The key must be admitted (KEYFILE.cert, from `hydra operator
// admit --key KEYFILE --roles contributor`); the contribution travels
// inside the cluster's encrypted channel, addressed to the node, once.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "actors/collector.hpp"
#include "actors/ctl_client.hpp"
#include "apps/node_cmd.hpp"
#include "data/contribution.hpp"
#include "wire/identity.hpp"

namespace hydra::apps {
namespace {

struct contribute_options {
  std::string connect;
  std::string key;
  std::string cluster;
  std::vector<std::string> paths;
  double every = 0;
  double timeout = 120;
  bool no_wait = false;
  bool json = false;
};

int run_contribute(const contribute_options& o) {
  auto creds = actors::load_client_credentials(o.key, o.cluster);
  if (!creds) {
    std::fprintf(stderr, "hydra contribute: error: %s\n", creds.err().message.c_str());
    return 1;
  }
  const wire::identity* me = &creds->id;
  const std::string account = actors::account_of(me->pk);
  if (!o.json) std::fprintf(stderr, "contributing as %s\n", account.c_str());
  int failures = 0;
  std::uint64_t request = 1;
  for (std::size_t i = 0; i < o.paths.size(); ++i) {
    if (i > 0 && o.every > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.every));
    const std::string& path = o.paths[i];
    nlohmann::json out = {{"path", path}};
    auto bundle = data::read_contribution(path);
    if (!bundle) {
      // Not even readable as a contribution here: nothing is sent.
      out["status"] = "unreadable";
      out["reason"] = bundle.err().message;
      ++failures;
    } else {
      capnp::MallocMessageBuilder mb;
      auto c = mb.initRoot<Message>().initContribute();
      c.setRequestId(request);
      c.setFormat(bundle->format);
      c.setWait(!o.no_wait);
      auto files = c.initFiles(static_cast<unsigned>(bundle->files.size()));
      for (std::size_t k = 0; k < bundle->files.size(); ++k) {
        files[k].setName(bundle->files[k].name);
        files[k].setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(bundle->files[k].bytes.data()),
                                      bundle->files[k].bytes.size()));
      }
      const std::uint64_t rid = request++;
      auto reply = actors::exchange(
          *creds, o.connect, mb,
          [rid](Message::Reader m) {
            return m.which() == Message::CONTRIBUTE_REPLY && m.getContributeReply().getRequestId() == rid;
          },
          o.timeout);
      if (!reply) {
        out["status"] = "error";
        out["reason"] = reply.err().message;
        ++failures;
      } else {
        auto r = reply->message().getContributeReply();
        auto verdict = nlohmann::json::parse(std::string(r.getJson()), nullptr, false);
        if (verdict.is_object()) out.update(verdict);
        if (!r.getOk()) ++failures;
      }
    }
    if (o.json) {
      std::printf("%s\n", out.dump().c_str());
    } else {
      const std::string status = out.value("status", "?");
      std::printf("%s: %s", path.c_str(), status.c_str());
      if (out.contains("accepted")) std::printf(", %d samples accepted", out["accepted"].get<int>());
      if (out.contains("duplicates") && out["duplicates"].get<int>() > 0)
        std::printf(", %d duplicates", out["duplicates"].get<int>());
      if (out.contains("score") && out["score"].is_number()) std::printf(", score %.3f", out["score"].get<double>());
      if (out.contains("credited")) std::printf(", +%.3f credits", out["credited"].get<double>() / 1000.0);
      if (out.contains("penalty") && out["penalty"].get<double>() > 0)
        std::printf(", -%.3f credits", out["penalty"].get<double>() / 1000.0);
      if (out.contains("reason")) std::printf(" (%s)", out["reason"].get<std::string>().c_str());
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  return failures ? 2 : 0;
}

}  // namespace

CLI::App* add_contribute_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<contribute_options>();
  auto* cmd = app.add_subcommand("contribute", "Submit labelled samples to a collector (credited to your key)");
  cmd->add_option("--connect", o->connect, "HOST:PORT of a node (its collector)")->required();
  cmd->add_option("--as", o->key, "Your key file (Ed25519; admitted by an operator: KEYFILE.cert beside it)")->required();
  cmd->add_option("--cluster", o->cluster, "cluster.pub (default: beside the key file)");
  cmd->add_option("PATH", o->paths,
                  "Contributions: a .csv (label + 784 pixels per line), a folder holding an IDX images + labels pair, or a folder "
                  "of <label>/*.pgm images")
      ->required();
  cmd->add_option("--every", o->every, "Seconds to wait between contributions")->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout", o->timeout, "Seconds to wait for each verdict")->capture_default_str();
  cmd->add_flag("--no-wait", o->no_wait, "Return after validation; the verdict follows in the ledger");
  cmd->add_flag("--json", o->json, "One JSON object per contribution");
  cmd->callback([o, &exit_code] { exit_code = run_contribute(*o); });
  return cmd;
}

}  // namespace hydra::apps
