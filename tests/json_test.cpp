// util/json: string literals, both number forms, flat objects with fields in order.
#include "util/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace vit {
namespace {

TEST(JsonLine, FieldsInOrder) {
  const std::string line = JsonLine().add("event", "epoch").add("epoch", 2).add("acc", 0.5).str();
  EXPECT_EQ(line, R"({"event":"epoch","epoch":2,"acc":0.5})");
}

TEST(JsonLine, EscapesAndNonFinite) {
  const std::string line =
      JsonLine().add("s", "a\"b\\c\nd\x01").add("nan", std::numeric_limits<double>::quiet_NaN()).str();
  EXPECT_EQ(line, R"({"s":"a\"b\\c\nd\u0001","nan":null})");
}

TEST(JsonLine, NumbersAndTextsAsTheLineHoldsThem) {
  const JsonLine line = JsonLine()
                            .add("event", "step")
                            .add("step", 7)
                            .add("loss", 1.0 / 3.0)
                            .add("bad", std::numeric_limits<double>::infinity());
  ASSERT_EQ(line.numbers().size(), 3u);
  EXPECT_EQ(line.numbers()[0], std::make_pair(std::string("step"), 7.0));
  EXPECT_EQ(line.numbers()[1].first, "loss");
  EXPECT_EQ(line.numbers()[1].second, 0.333333);  // the 6 digits written, not 1/3
  EXPECT_TRUE(std::isinf(line.numbers()[2].second));
  EXPECT_EQ(line.text("event"), "step");
  EXPECT_EQ(line.text("absent"), "");
}

TEST(JsonNumber, ShortestExactAndSixDigits) {
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number_short(1.0 / 3.0), "0.333333");
  EXPECT_EQ(json_number_short(1234567.0), "1.23457e+06");
  EXPECT_EQ(json_number_short(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_quote("tab\there"), "\"tab\\there\"");
}

// What tells a whole metrics.jsonl line from one torn by a crash mid-write.
TEST(IsJsonObject, WholeObjectsOnly) {
  const std::string line = JsonLine().add("event", "step").add("step", 7).add("loss", 0.5).str();
  EXPECT_TRUE(is_json_object(line));
  for (size_t cut = 0; cut < line.size(); ++cut) {
    EXPECT_FALSE(is_json_object(line.substr(0, cut))) << line.substr(0, cut);
  }
  EXPECT_TRUE(is_json_object("{}"));
  EXPECT_TRUE(is_json_object(R"( {"a": [1, -2.5e+3, true, null], "b": {"c": "\u00e9\n"}} )"));
  EXPECT_TRUE(is_json_object(JsonLine().add("x", std::nan("")).add("t", "a\"b\n").str()));
  for (const std::string& bad : std::vector<std::string>{
           "", "[]", "7", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":1}}", "{a:1}",
           "{\"a\":1} x", "{\"a\":nul}", std::string("{\"a\":\"\0\"}", 9), std::string(6, '\0'),
           "{\"a\":\"\\q\"}", "{\"a\":" + std::string(100000, '[')}) {
    EXPECT_FALSE(is_json_object(bad)) << bad;
  }
}

}  // namespace
}  // namespace vit
