#include <gtest/gtest.h>

#include "placement/sim.hpp"

namespace hydra::placement {
namespace {

TEST(Trace, ParsesEventsSortedByTime) {
  auto t = parse_trace(
      "node_id,time_s,event,value\n"
      "# a comment\n"
      "2,5.5,leave,\n"
      "1,0,join,100\r\n"
      "\n"
      "2,0,join,50\n"
      "1,3,speed,20\n");
  ASSERT_TRUE(t) << t.err().message;
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[0].node_id, 1u);
  EXPECT_EQ((*t)[0].what, trace_event::kind::join);
  EXPECT_EQ((*t)[0].value, 100);
  EXPECT_EQ((*t)[2].what, trace_event::kind::speed);
  EXPECT_EQ((*t)[3].what, trace_event::kind::leave);
  EXPECT_EQ((*t)[3].time_s, 5.5);
}

TEST(Trace, CorruptLinesNameTheLine) {
  for (const char* text : {"1,0,join\n", "x,0,join,1\n", "1,-1,join,1\n", "1,0,explode,1\n",
                           "1,0,join,0\n", "1,0,join,1\n1,2,speed,abc\n"}) {
    auto t = parse_trace(text);
    ASSERT_FALSE(t) << text;
    EXPECT_NE(t.err().message.find("trace line"), std::string::npos);
  }
  auto t = parse_trace("1,0,join,1\n1,2,speed,abc\n");
  EXPECT_NE(t.err().message.find("line 2"), std::string::npos);
}

TEST(Trace, DrivesTheSimulator) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += std::to_string(i) + ",0,join," + std::to_string(10 + i) + "\n";
  text += "3,2,leave,\n7,4,speed,500\n60,6,join,80\n";
  auto t = parse_trace(text);
  ASSERT_TRUE(t) << t.err().message;
  sim_config c;
  c.rounds = 20;
  auto p = make_policy("adaptive");
  auto r = simulate(c, **p, *t);
  EXPECT_EQ(r.failed_rounds, 0u);
  EXPECT_EQ(r.joins, 51u);
  EXPECT_EQ(r.leaves, 1u);
  EXPECT_GT(r.mean_round_seconds, 0);
  EXPECT_GE(r.ratio, 0.99);
}

}  // namespace
}  // namespace hydra::placement
