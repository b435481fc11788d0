#include "apps/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "apps/node_cmd.hpp"
#include "apps/train.hpp"

namespace hydra::apps {
namespace {

using ::testing::HasSubstr;

/// Thrown once the command line and the file are in, before any subcommand
/// runs.
struct parsed {};

/// `hydra` as main.cpp builds it, but `node` and `train` run nothing: the
/// app's parse-complete callback comes after the config file is applied and
/// before the subcommands' callbacks.
struct cli {
  CLI::App app{"hydra"};
  int exit_code = 0;
  train_options train;
  CLI::App* train_cmd = nullptr;
  CLI::App* node = nullptr;
  cli() {
    train_cmd = add_train_command(app, train, exit_code);
    node = add_node_command(app, exit_code);
    add_config_option(app, node);
    app.parse_complete_callback([] { throw parsed{}; });
  }
  void parse(const std::string& args) {
    try {
      app.parse(args, false);
    } catch (const parsed&) {
      return;
    }
    FAIL() << "parse did not complete";
  }
  config_schema schema() { return node_config_schema(*node); }
  CLI::Option* opt(const std::string& name) { return node->get_option(name); }
};

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

/// The error of reading `text` as cfg.toml for `hydra node`.
std::string read_error(const std::string& text) {
  cli c;
  const auto keys = c.schema();
  const auto train = section_config_schema(*c.train_cmd, "train");
  auto r = read_config(text, "cfg.toml", keys, train);
  return r ? "" : r.err().message;
}

std::string apply_error(const std::string& text) {
  cli c;
  const auto keys = c.schema();
  auto r = read_config(text, "cfg.toml", keys);
  if (!r) return "read: " + r.err().message;
  auto a = apply_config(*r);
  return a ? "" : a.err().message;
}

TEST(Config, EveryNodeOptionHasAKey) {
  cli c;
  const auto keys = c.schema();
  for (const CLI::Option* op : c.node->get_options()) {
    if (op == c.node->get_help_ptr()) continue;
    auto it = std::find_if(keys.begin(), keys.end(), [&](const config_key& k) { return k.option == op; });
    EXPECT_NE(it, keys.end()) << op->get_name() << " (group \"" << op->get_group() << "\") has no config key";
  }
  auto kind = [&](const std::string& path) {
    for (const auto& k : keys)
      if (k.path() == path) return static_cast<int>(k.kind);
    return -1;
  };
  EXPECT_EQ(kind("node.listen"), static_cast<int>(config_kind::text));
  EXPECT_EQ(kind("node.cpu-limit"), static_cast<int>(config_kind::number));
  EXPECT_EQ(kind("node.gossip-interval"), static_cast<int>(config_kind::duration));
  EXPECT_EQ(kind("cluster.join"), static_cast<int>(config_kind::list));
  EXPECT_EQ(kind("train.world"), static_cast<int>(config_kind::integer));
  EXPECT_EQ(kind("train.holdout"), static_cast<int>(config_kind::count));
  EXPECT_EQ(kind("train.train"), static_cast<int>(config_kind::flag));
  EXPECT_EQ(kind("train.standardize"), static_cast<int>(config_kind::flag));
  EXPECT_EQ(kind("train.no-standardize"), -1);  // one flag, one key
}

TEST(Config, ParsesDurations) {
  const std::pair<const char*, double> good[] = {{"10", 10},     {"1.5s", 1.5}, {"250ms", 0.25}, {"2m", 120},
                                                 {"1h30m", 5400}, {"1h", 3600},  {"0.5", 0.5},    {"1m30s", 90}};
  for (auto [text, secs] : good) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d) << text << ": " << d.err().message;
    EXPECT_DOUBLE_EQ(*d, secs) << text;
  }
  for (const char* text : {"", "5 parsecs", "-1s", "1h30", "s", "1.2.3s", "10d", " 5s", "5s "}) {
    auto d = parse_duration(text);
    EXPECT_FALSE(d) << "\"" << text << "\" parsed as " << *d;
    if (!d) {
      EXPECT_EQ(d.err().code, errc::invalid_input);
    }
  }
  EXPECT_THAT(parse_duration("-1s").err().message, HasSubstr("negative"));
  EXPECT_THAT(parse_duration("5 parsecs").err().message, HasSubstr("\"5 parsecs\""));
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  const auto e = read_error("[node]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n");
  EXPECT_THAT(e, HasSubstr("cfg.toml:3: node.lisen: unknown key"));
  EXPECT_THAT(e, HasSubstr("did you mean node.listen?"));
  EXPECT_THAT(read_error("[cluster]\ncpu-limit = 5\n"), HasSubstr("cfg.toml:2: cluster.cpu-limit: unknown key"));
  EXPECT_THAT(read_error("[node.extra]\nx = 1\n"), HasSubstr("cfg.toml:1: node.extra: unknown key"));
}

TEST(Config, UnknownSectionAndBareKeys) {
  EXPECT_THAT(read_error("[node]\n\n[nodes]\nlisten = \"x\"\n"), HasSubstr("cfg.toml:3: [nodes]: unknown section"));
  EXPECT_THAT(read_error("listen = \"x\"\n"), HasSubstr("cfg.toml:1: listen: a key outside any section"));
}

TEST(Config, SitesSectionMayBeEmptyButHasNoKeysYet) {
  EXPECT_EQ(read_error("[sites]\n"), "");
  EXPECT_THAT(read_error("[sites]\nname = \"a\"\n"), HasSubstr("cfg.toml:2: sites.name: unknown key"));
}

TEST(Config, WrongTypesNameTheExpectedType) {
  EXPECT_THAT(read_error("[node]\ncpu-limit = \"fast\"\n"),
              HasSubstr("cfg.toml:2: node.cpu-limit: expected a number, got a string"));
  EXPECT_THAT(read_error("[train]\nworld = 1.5\n"), HasSubstr("cfg.toml:2: train.world: expected an integer, got a float"));
  EXPECT_THAT(read_error("[train]\ntrain = \"yes\"\n"), HasSubstr("train.train: expected a boolean"));
  EXPECT_THAT(read_error("[node]\nlisten = 7400\n"), HasSubstr("node.listen: expected a string, got an integer"));
  EXPECT_THAT(read_error("[cluster]\njoin = [1, 2]\n"), HasSubstr("cluster.join: expected an array of strings"));
  EXPECT_THAT(read_error("[train]\nholdout = -1\n"), HasSubstr("train.holdout: expected a non-negative integer"));
  EXPECT_THAT(read_error("[node]\ngossip-interval = \"soon\"\n"), HasSubstr("cfg.toml:2: node.gossip-interval: \"soon\""));
  EXPECT_THAT(read_error("[node]\ngossip-interval = -1\n"), HasSubstr("node.gossip-interval: a duration cannot be negative"));
}

TEST(Config, ReportsEveryProblemInLineOrder) {
  const auto e = read_error("[train]\nepochs = \"x\"\n[node]\nbogus = 1\n");
  EXPECT_THAT(e, HasSubstr("cfg.toml:2: train.epochs"));
  EXPECT_THAT(e, HasSubstr("\ncfg.toml:4: node.bogus"));
}

TEST(Config, SyntaxErrorNamesTheLine) {
  EXPECT_THAT(read_error("[node]\nlisten = \n"), HasSubstr("cfg.toml:2: "));
}

TEST(Config, RangeAndMemberChecksAreCli11s) {
  EXPECT_THAT(apply_error("[node]\n\ncpu-limit = 500\n"), HasSubstr("cfg.toml:3: node.cpu-limit: Value 500 not in range"));
  EXPECT_THAT(apply_error("[train]\nmodel = \"resnet\"\n"), HasSubstr("cfg.toml:2: train.model: resnet not in {mlp,cnn}"));
  EXPECT_THAT(apply_error("[node]\ngossip-interval = \"1m\"\n"), HasSubstr("node.gossip-interval: Value 60 not in range"));
  EXPECT_EQ(apply_error("[node]\ngossip-interval = \"250ms\"\ncpu-limit = 50\n"), "");
}

TEST(Config, FileSetsNodeOptions) {
  cli c;
  const auto path = write_file("sets.toml",
                               "[node]\ncpu-limit = 50\ngossip-interval = \"500ms\"\nlog-level = \"debug\"\n"
                               "[cluster]\njoin = [\"10.0.0.1:7400\", \"10.0.0.2:7400\"]\n"
                               "[train]\nworld = 3\nstandardize = false\nmomentum = 0.5\n");
  c.parse("node --config " + path);
  EXPECT_DOUBLE_EQ(c.opt("--cpu-limit")->as<double>(), 50);
  EXPECT_DOUBLE_EQ(c.opt("--gossip-interval")->as<double>(), 0.5);
  EXPECT_EQ(c.opt("--log-level")->as<std::string>(), "debug");
  EXPECT_EQ(c.opt("--join")->as<std::vector<std::string>>(),
            (std::vector<std::string>{"10.0.0.1:7400", "10.0.0.2:7400"}));
  EXPECT_EQ(c.opt("--world")->as<int>(), 3);
  EXPECT_FALSE(c.opt("--standardize")->as<bool>());
}

TEST(Config, OneStringIsAOneElementList) {
  cli c;
  c.parse("--config " + write_file("one.toml", "[cluster]\njoin = \"10.0.0.1:7400\"\n") + " node");
  EXPECT_EQ(c.opt("--join")->as<std::vector<std::string>>(), (std::vector<std::string>{"10.0.0.1:7400"}));
}

TEST(Config, FlagsOverrideTheFile) {
  cli c;
  const auto path = write_file("override.toml",
                               "[node]\ncpu-limit = 50\nlisten = \"127.0.0.1:1\"\n"
                               "[cluster]\njoin = [\"10.0.0.1:7400\"]\n[train]\nstandardize = true\nworld = 3\n");
  c.parse("node --cpu-limit 20 --config " + path + " --join 10.0.0.9:1 --no-standardize");
  EXPECT_DOUBLE_EQ(c.opt("--cpu-limit")->as<double>(), 20);
  EXPECT_EQ(c.opt("--join")->as<std::vector<std::string>>(), (std::vector<std::string>{"10.0.0.9:1"}));
  EXPECT_FALSE(c.opt("--standardize")->as<bool>());
  EXPECT_EQ(c.opt("--listen")->as<std::string>(), "127.0.0.1:1");  // not on the command line: the file's
  EXPECT_EQ(c.opt("--world")->as<int>(), 3);
}

TEST(Config, EnvironmentOverridesTheFile) {
  cli c;
  ::setenv("HYDRA_SCHEDULER", "stealing", 1);
  c.parse("node --config " + write_file("env.toml", "[node]\nscheduler = \"sharing\"\n"));
  ::unsetenv("HYDRA_SCHEDULER");
  EXPECT_EQ(c.opt("--scheduler")->as<std::string>(), "stealing");
}

TEST(Config, BadFileEndsTheParseWithExitCode1) {
  cli c;
  const auto path = write_file("bad.toml", "[node]\ncpu-limit = 50\nwrold = 3\n");
  try {
    c.parse("node --config " + path);
    FAIL() << "parsed";
  } catch (const config_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ":3: node.wrold: unknown key"));
    EXPECT_EQ(e.get_exit_code(), 1);
  }
}

TEST(Config, TrainReadsItsOwnTrainKeys) {
  cli c;
  const auto path = write_file("train.toml",
                               "[node]\nlisten = \"127.0.0.1:0\"\n[train]\nbatch = 32\nmomentum = 0.5\nworld = 4\n");
  c.parse("--config " + path + " train --epochs 2");
  EXPECT_EQ(c.train.batch, 32);
  EXPECT_FLOAT_EQ(c.train.momentum, 0.5f);
  EXPECT_EQ(c.train.epochs, 2);
  cli d;
  EXPECT_THROW(d.parse("--config " + write_file("t2.toml", "[train]\nbogus = 1\n") + " train"), config_error);
}

}  // namespace
}  // namespace hydra::apps
