#include "ops/plot.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace hydra::ops {
namespace {

std::string progress_line(int step, double loss, double round_s = 0.01) {
  return "{\"t\": " + std::to_string(1764655000.0 + step) + ", \"step\": " + std::to_string(step) +
         ", \"total\": 100, \"epoch\": 0, \"loss\": " + std::to_string(loss) + ", \"samples\": " +
         std::to_string(step * 64) + ", \"samples_per_s\": 5000.0, \"round_s\": " + std::to_string(round_s) +
         ", \"world\": 4}\n";
}

const series* find(const std::vector<series>& all, const std::string& panel) {
  for (auto& s : all)
    if (s.panel == panel) return &s;
  return nullptr;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

TEST(Plot, ParsesProgressAndEvaluationLines) {
  auto log = parse_train_log(progress_line(1, 2.5) + progress_line(2, 2.0) +
                             "{\"t\": 1764655003, \"step\": 2, \"samples\": 128, \"test_accuracy\": 0.81}\n");
  ASSERT_EQ(log.records.size(), 3u);
  EXPECT_EQ(log.skipped, 0u);
  EXPECT_DOUBLE_EQ(log.records[1].loss, 2.0);
  EXPECT_DOUBLE_EQ(log.records[1].samples, 128);
  EXPECT_TRUE(std::isnan(log.records[2].loss));
  EXPECT_DOUBLE_EQ(log.records[2].test_accuracy, 0.81);
}

TEST(Plot, SkipsTornAndJunkLinesWithCount) {
  const std::string torn = progress_line(3, 1.0).substr(0, 40);  // a crash mid-line, no newline
  auto log = parse_train_log(progress_line(1, 2.5) + "garbage\n\n[1,2]\n{\"loss\": \"high\"}\n" +
                             progress_line(2, 2.0) + "{\"event\": \"start\"}\n" + torn);
  EXPECT_EQ(log.records.size(), 2u);
  EXPECT_EQ(log.skipped, 4u);  // garbage, an array, a string loss, the torn line
  EXPECT_EQ(log.first_skipped_line, 2u);
}

TEST(Plot, NullFieldIsMissingNotJunk) {
  auto log = parse_train_log("{\"t\": 1, \"step\": 1, \"samples\": 64, \"loss\": null, \"round_s\": 0.5}\r\n");
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_EQ(log.skipped, 0u);
  EXPECT_TRUE(std::isnan(log.records[0].loss));
}

TEST(Plot, ParsesRoundsLog) {
  auto log = parse_round_log("10 0.5 0.25\n20 0.75 0.3\nfoo bar\n30\n40 1e999 0\n50 -1 0\n60 0.1");
  ASSERT_EQ(log.records.size(), 3u);
  EXPECT_EQ(log.skipped, 4u);
  EXPECT_EQ(log.first_skipped_line, 3u);
  EXPECT_DOUBLE_EQ(log.records[1].seconds, 0.75);
  EXPECT_DOUBLE_EQ(log.records[2].step, 60);
}

TEST(Plot, ParsesResultJson) {
  auto r = parse_result_json(R"({"test_accuracy": 0.84, "rounds": 10, "samples": 6400, "world": 4})");
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->test_accuracy, 0.84);
  EXPECT_DOUBLE_EQ(r->samples, 6400);
  EXPECT_FALSE(parse_result_json("{\"test_acc"));
}

TEST(Plot, SeriesFromTrainLog) {
  run_logs run;
  run.name = "node-0";
  run.train = parse_train_log(progress_line(1, 2.5) + progress_line(2, 2.0) + progress_line(3, 1.5) +
                              "{\"t\": 1764655004, \"step\": 3, \"samples\": 192, \"test_accuracy\": 0.7}\n");
  auto all = make_series(run, *first_time(run.train));
  ASSERT_EQ(all.size(), 6u);
  auto* loss_time = find(all, "loss-time");
  ASSERT_TRUE(loss_time);
  EXPECT_EQ(loss_time->name, "node-0");
  ASSERT_EQ(loss_time->points.size(), 3u);
  EXPECT_DOUBLE_EQ(loss_time->points[0].x, 0);
  EXPECT_DOUBLE_EQ(loss_time->points[2].x, 2);
  EXPECT_DOUBLE_EQ(find(all, "loss-samples")->points[2].x, 192);
  EXPECT_EQ(find(all, "accuracy-samples")->points.size(), 1u);
  EXPECT_EQ(find(all, "round-samples")->points.size(), 3u);
}

TEST(Plot, RoundsLogMappedThroughTrainLogSteps) {
  run_logs run;
  run.name = "a";
  run.train = parse_train_log(
      "{\"t\": 100, \"step\": 10, \"samples\": 640, \"loss\": 1}\n{\"t\": 110, \"step\": 20, \"samples\": 1280, "
      "\"loss\": 0.5}\n");
  run.rounds = parse_round_log("10 0.5 0.4\n15 0.6 0.4\n20 0.7 0.4\n");
  auto all = make_series(run, 100);
  auto* by_samples = find(all, "round-samples");
  auto* by_time = find(all, "round-time");
  ASSERT_TRUE(by_samples && by_time);
  ASSERT_EQ(by_samples->points.size(), 3u);
  EXPECT_DOUBLE_EQ(by_samples->points[1].x, 960);
  EXPECT_DOUBLE_EQ(by_samples->points[1].y, 0.6);
  EXPECT_DOUBLE_EQ(by_time->points[1].x, 5);
}

TEST(Plot, RoundsLogAloneUsesResultAndRunningTime) {
  run_logs run;
  run.name = "a";
  run.rounds = parse_round_log("1 0.5 0\n2 0.25 0\n4 0.25 0\n");
  run.result = parse_result_json(R"({"samples": 256, "test_accuracy": 0.5})");
  auto all = make_series(run, 0);
  ASSERT_TRUE(find(all, "round-samples"));
  EXPECT_DOUBLE_EQ(find(all, "round-samples")->points[2].x, 256);
  EXPECT_DOUBLE_EQ(find(all, "round-samples")->points[0].x, 64);
  EXPECT_DOUBLE_EQ(find(all, "round-time")->points[1].x, 0.75);
  ASSERT_TRUE(find(all, "accuracy-samples"));
  EXPECT_DOUBLE_EQ(find(all, "accuracy-samples")->points[0].y, 0.5);
  EXPECT_FALSE(find(all, "loss-samples"));
}

TEST(Plot, DownsampleKeepsEndsAndExtremes) {
  std::vector<point> pts;
  for (int i = 0; i < 10000; ++i) pts.push_back({double(i), i == 5000 ? 100.0 : i == 7000 ? -50.0 : std::sin(i)});
  auto out = downsample(pts, 500);
  EXPECT_LE(out.size(), 500u);
  EXPECT_GE(out.size(), 400u);
  EXPECT_DOUBLE_EQ(out.front().x, 0);
  EXPECT_DOUBLE_EQ(out.back().x, 9999);
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end(), [](auto& a, auto& b) { return a.x < b.x; }));
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](auto& p) { return p.y == 100.0; }));
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](auto& p) { return p.y == -50.0; }));
  std::vector<point> few(pts.begin(), pts.begin() + 300);
  EXPECT_EQ(downsample(few, 500).size(), 300u);
}

TEST(Plot, XmlEscape) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(xml_escape("n\x01o\xff"), "n?o?");
  EXPECT_EQ(xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(xml_escape("\xc3"), "?");  // a cut UTF-8 sequence
}

TEST(Plot, SvgHasOneTaggedPolylinePerSeries) {
  std::vector<series> all = {{"a<&>\"b", "loss-samples", {{0, 1}, {10, 0.5}, {20, 0.25}}},
                             {"c", "loss-samples", {{0, 2}, {20, 1}}},
                             {"c", "round-time", {{0, 0.1}}}};
  figure_options o;
  o.title = "T & <title>";
  const std::string svg = render_svg(layout_figure(all, o));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"series\""), 3u);
  EXPECT_EQ(count(svg, "data-series=\"a&lt;&amp;&gt;&quot;b\" data-panel=\"loss-samples\""), 1u);
  EXPECT_EQ(count(svg, "data-series=\"c\" data-panel=\"round-time\""), 1u);
  EXPECT_NE(svg.find("T &amp; &lt;title&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("a<&"), std::string::npos);
  EXPECT_NE(svg.find("Loss vs samples"), std::string::npos);
  EXPECT_NE(svg.find("no data"), std::string::npos);  // accuracy panels are empty
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
}

TEST(Plot, FormatFromExtension) {
  EXPECT_EQ(*format_for_path("x.svg"), image_format::svg);
  EXPECT_EQ(*format_for_path("dir/X.SVG"), image_format::svg);
  auto jpg = format_for_path("x.jpg");
  ASSERT_FALSE(jpg);
  EXPECT_NE(jpg.err().message.find(".svg"), std::string::npos);
  EXPECT_NE(jpg.err().message.find(".jpg"), std::string::npos);
  EXPECT_FALSE(format_for_path("x"));
  EXPECT_EQ(bool(format_for_path("x.png")), png_supported());
}

TEST(Plot, PngWhenBuiltWithCairo) {
  if (!png_supported()) GTEST_SKIP() << "built without cairo";
  auto png = render_png(layout_figure({{"a", "loss-samples", {{0, 1}, {1, 0.5}}}}, {}));
  ASSERT_TRUE(png) << png.err().message;
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

class PlotFiles : public ::testing::Test {
 protected:
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("hydra-plot-" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
};

TEST_F(PlotFiles, JobFolderGivesOneRunPerNodeInNaturalOrder) {
  for (int n : {10, 2, 0}) write(dir / "job" / ("node-" + std::to_string(n)) / "train.log", progress_line(1, 1));
  std::filesystem::create_directories(dir / "job" / "empty");
  auto runs = load_runs({(dir / "job").string()});
  ASSERT_TRUE(runs) << runs.err().message;
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].name, "node-0");
  EXPECT_EQ((*runs)[1].name, "node-2");
  EXPECT_EQ((*runs)[2].name, "node-10");
}

TEST_F(PlotFiles, ClashingNamesGetTheirParent) {
  write(dir / "a" / "node-0" / "train.log", progress_line(1, 1));
  write(dir / "b" / "node-0" / "train.log", progress_line(1, 1));
  auto runs = load_runs({(dir / "a").string(), (dir / "b").string()});
  ASSERT_TRUE(runs) << runs.err().message;
  EXPECT_EQ((*runs)[0].name, "a/node-0");
  EXPECT_EQ((*runs)[1].name, "b/node-0");
}

TEST_F(PlotFiles, ErrorsNameThePath) {
  auto missing = load_runs({(dir / "nowhere").string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().code, errc::not_found);
  EXPECT_NE(missing.err().message.find("nowhere"), std::string::npos);
  std::filesystem::create_directories(dir / "bare");
  auto bare = load_runs({(dir / "bare").string()});
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.err().message.find("no logs found in"), std::string::npos);
  write(dir / "junk" / "train.log", "junk\n");
  auto junk = plot_files({(dir / "junk").string()}, image_format::svg, {});
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.err().message.find("nothing to plot"), std::string::npos);
}

TEST_F(PlotFiles, SummaryCountsSeriesPointsAndSkips) {
  write(dir / "A" / "train.log", progress_line(1, 2) + progress_line(2, 1) + "{torn");
  auto sum = plot_files({(dir / "A").string()}, image_format::svg, {});
  ASSERT_TRUE(sum) << sum.err().message;
  EXPECT_EQ(sum->runs, 1u);
  EXPECT_EQ(sum->series, 4u);  // loss and round time, each against samples and time
  EXPECT_EQ(sum->points, 8u);
  EXPECT_EQ(sum->skipped, 1u);
  ASSERT_EQ(sum->notes.size(), 1u);
  EXPECT_NE(sum->notes[0].find("line 3"), std::string::npos);
}

}  // namespace
}  // namespace hydra::ops
