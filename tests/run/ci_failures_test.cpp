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

// Issue 14 defects 1 and 2: a --backend typo or a reference that never ran left only the reference
// (or nothing) measured, and --ci passed. Every backend the run was asked for must have run.
TEST(CiFailures, ARequiredBackendThatWasSkippedOrNeverMeasuredFails) {
  auto r = result_of({graded("qkv", report::CellStatus::Converged, true)});
  r.skipped_backends.push_back({"cuda_bricks", "no CUDA device"});
  const std::vector<RequiredBackend> required{
      {"cuda_bricks", "--backend"}, {"scalar_ref", "the reference"}, {"avx_bricks", "--backend"}};
  EXPECT_THAT(ci_failures(r, required),
              ElementsAre("cuda_bricks: required (--backend) but skipped: no CUDA device",
                          "scalar_ref: required (the reference) but none of its cells was measured"));
  // Once each ran and measured something, they pass.
  r.skipped_backends.clear();
  auto ref = graded("qkv", report::CellStatus::Converged, true);
  ref.backend = "scalar_ref";
  auto cuda = ref;
  cuda.backend = "cuda_bricks";
  r.cells.push_back(ref);
  r.cells.push_back(cuda);
  EXPECT_THAT(ci_failures(r, required), IsEmpty());
}

}  // namespace
}  // namespace bb::run
