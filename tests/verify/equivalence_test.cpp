// Top-1 with ties (verify::tie_margin / top1_acceptable), values worked out by hand.
#include "verify/equivalence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using bb::verify::tie_margin;
using bb::verify::top1_acceptable;

TEST(TopOneWithTies, MarginIsThreeSigmaOfTheDifferenceAtTheNmseBound) {
  // rms of {3, -4, 0, 0} = sqrt(25 / 4) = 2.5; 3 * sqrt(2 * 2e-3) * 2.5 = 0.474342
  const std::vector<float> row = {3, -4, 0, 0};
  EXPECT_NEAR(tie_margin(row, 2e-3), 3 * std::sqrt(4e-3) * 2.5, 1e-9);
  EXPECT_EQ(tie_margin(row, std::nullopt), 0.0);  // no NMSE bound: plain argmax
  EXPECT_EQ(tie_margin(row, 0.0), 0.0);
  EXPECT_EQ(tie_margin({}, 2e-3), 0.0);
}

TEST(TopOneWithTies, AcceptsTheArgmaxAndNearTiesOnly) {
  const std::vector<float> row = {1.0f, 5.0f, 4.9f, 4.0f, NAN};
  EXPECT_TRUE(top1_acceptable(row, 1, 0.0));
  EXPECT_FALSE(top1_acceptable(row, 2, 0.0));    // strict: only the argmax
  EXPECT_TRUE(top1_acceptable(row, 2, 0.15));    // 0.1 below the max, inside the margin
  EXPECT_FALSE(top1_acceptable(row, 3, 0.15));   // 1.0 below: a real disagreement
  EXPECT_FALSE(top1_acceptable(row, 4, 10.0));   // a NaN logit is never acceptable
  EXPECT_FALSE(top1_acceptable(row, -1, 10.0));  // out of range tokens are not
  EXPECT_FALSE(top1_acceptable(row, 5, 10.0));
}

TEST(TopOneWithTies, JudgeCarriesBothCountsAndFailsOnTheTiedOne) {
  bb::verify::OutputComparison c;
  c.nmse = 1e-3;
  c.top1 = 0.75;
  c.top1_strict = 0.5;
  bb::config::Tolerance tol{2e-3, std::nullopt, 0.85};
  auto e = bb::verify::judge(c, tol, bb::config::ToleranceClass::ActQ8, "scalar_ref");
  EXPECT_FALSE(e.pass);
  EXPECT_EQ(e.top1, 0.75);
  EXPECT_EQ(e.top1_strict, 0.5);
  EXPECT_NE(e.note.find("top-1 0.750 < 0.850"), std::string::npos) << e.note;
  c.top1 = 1.0;  // the strict count does not decide
  e = bb::verify::judge(c, tol, bb::config::ToleranceClass::ActQ8, "scalar_ref");
  EXPECT_TRUE(e.pass) << e.note;
}

}  // namespace
