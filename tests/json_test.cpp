// util/json: string literals, both number forms, flat objects with fields in order.
#include "util/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

TEST(JsonNumber, ShortestExactAndSixDigits) {
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number_short(1.0 / 3.0), "0.333333");
  EXPECT_EQ(json_number_short(1234567.0), "1.23457e+06");
  EXPECT_EQ(json_number_short(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_quote("tab\there"), "\"tab\\there\"");
}

}  // namespace
}  // namespace vit
