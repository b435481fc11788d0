#include "apps/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace hydra::apps {
namespace {

/// %* : the message as the inside of a JSON string.
class json_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (c == '\n') {
        dest.append(std::string_view("\\n"));
      } else if (c == '\t') {
        dest.append(std::string_view("\\t"));
      } else if (u < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", u);
        dest.append(std::string_view(b));
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message>(); }
};

}  // namespace

void add_log_options(CLI::App& cmd, log_options& o, const std::string& group) {
  cmd.add_option("--log-level", o.level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--log-format", o.format, "text, or json (one object per line: time, level, node, msg)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--log-file", o.file, "Log to this file, rotated at 10 MiB, 5 kept (default: stderr)")->group(group);
}

std::string setup_logging(const log_options& o, const std::string& node) {
  static std::shared_ptr<spdlog::logger> logger;
  static std::string file_in_use;
  if (!logger || file_in_use != o.file) {
    try {
      spdlog::sink_ptr sink;
      if (o.file.empty())
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
      else
        sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(o.file, 10u << 20, 5);
      if (logger) spdlog::drop(logger->name());
      logger = std::make_shared<spdlog::logger>("hydra", sink);
      file_in_use = o.file;
    } catch (const spdlog::spdlog_ex& e) {
      return std::string("--log-file: ") + e.what();
    }
    spdlog::set_default_logger(logger);
  }
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<json_message>('*');
  if (o.format == "json") {
    f->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","node":")" + node + R"(","msg":"%*"})");
  } else {
    f->set_pattern(node.empty() ? "[%H:%M:%S.%e] %^%l%$ %v" : "[%H:%M:%S.%e] %^%l%$ [" + node + "] %v");
  }
  logger->set_formatter(std::move(f));
  logger->set_level(spdlog::level::from_str(o.level));
  logger->flush_on(spdlog::level::info);  // logs go to files: flush every line
  return "";
}

}  // namespace hydra::apps
