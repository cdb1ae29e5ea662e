// run::ci_failures, the verdict of `bench run --ci`: what fails it and what is only reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "run/verdicts.h"

namespace bb::run {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

report::Cell graded(const std::string& id, report::CellStatus status, bool budget_pass) {
  report::Cell c;
  c.id = id;
  c.backend = "avx_bricks";
  c.status = status;
  if (status == report::CellStatus::Unstable)
    c.status_reason = "CV 9.10% > target 3.00% after max_samples (500)";
  c.samples = {1e-3, 1.1e-3};
  c.budget.has_budget = true;
  c.budget.graded = true;
  c.budget.budget_us = 500;
  c.budget.gap = budget_pass ? 0.8 : 2.1;
  c.budget.pass = budget_pass;
  return c;
}

report::RunResult result_of(std::vector<report::Cell> cells) {
  report::RunResult r;
  r.state = "complete";
  r.cells = std::move(cells);
  return r;
}

TEST(CiFailures, AnUnstableCellOverBudgetIsANoteWhenUnstableCellsDoNotFail) {
  const auto r = result_of({graded("qkv", report::CellStatus::Unstable, false)});
  std::vector<std::string> notes;
  EXPECT_THAT(ci_failures(r, {}, false, &notes), IsEmpty());
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], HasSubstr("qkv on avx_bricks: UNSTABLE (CV 9.10%"));
  EXPECT_THAT(
      notes[1],
      HasSubstr("qkv on avx_bricks: over budget (x2.10 of 500 us), not judged: the cell is UNSTABLE"));
  // With unstable_fails_ci (the default) both are failures.
  EXPECT_THAT(
      ci_failures(r, {}, true, &notes),
      ElementsAre(HasSubstr("UNSTABLE"), HasSubstr("qkv on avx_bricks: over budget (x2.10 of 500 us)")));
}

TEST(CiFailures, ABudgetMissOnAConvergedCellAlwaysFails) {
  const auto r = result_of({graded("qkv", report::CellStatus::Converged, false),
                            graded("ffn", report::CellStatus::Converged, true)});
  std::vector<std::string> notes;
  EXPECT_THAT(ci_failures(r, {}, false, &notes),
              ElementsAre("qkv on avx_bricks: over budget (x2.10 of 500 us)"));
  EXPECT_THAT(notes, IsEmpty());
  EXPECT_THAT(ci_failures(r, {}, true), ElementsAre("qkv on avx_bricks: over budget (x2.10 of 500 us)"));
}

TEST(CiFailures, AFailedEquivalenceFailsWhateverTheStatus) {
  auto c = graded("qkv", report::CellStatus::Unstable, true);
  c.equivalence.checked = true;
  c.equivalence.pass = false;
  c.equivalence.note = "nmse 3.1e-2 > 1e-5";
  EXPECT_THAT(ci_failures(result_of({c}), {}, false),
              ElementsAre("qkv on avx_bricks: equivalence failed (nmse 3.1e-2 > 1e-5)"));
}

}  // namespace
}  // namespace bb::run
