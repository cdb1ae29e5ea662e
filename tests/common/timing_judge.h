// The verdict of a timing test (a test that judges measured speed) on a host that does not hold still.
//
// A timing test compares runs: A/A pairs (the same build twice: nothing may be flagged) and trials
// (BASE against a NEW made slower on purpose: the slowdown must be flagged). On a shared 2-core VM the
// whole machine's speed moves 5-20% between two runs seconds apart; such a pair says nothing about the
// detector. So each pair is first read for the host's own movement, from the cells that did not
// change on purpose, with fixed tolerances of its own (not the detector's settings, so a detector made
// wrong on purpose still fails):
//   host moved  the median NEW/BASE ratio of those cells is off 1 by more than `shift`, or at least
//               `spread_fraction` of them (and at least 2) moved by more than `spread` either way.
// A host cell flagged in an A/A pair is not counted as a false alarm when a side of it never reached
// its CV target (UNSTABLE or CAPPED_SLOW: the host moved under that one cell while it was measured);
// it is listed apart. A flag on a cell converged on both sides counts.
// A trial is also left out when its target cell came out `noisy` because one side of it never reached
// its CV target (UNSTABLE or CAPPED_SLOW: the host moved under that one cell while it was measured, and
// bench diff then asks the whole interval to clear the minimum effect). A target read `same`, or
// `noisy` from converged cells, is a miss whatever the statuses: a blind detector says `same`.
// Only the other pairs, the clean ones, judge the detector. The test fails on a wrong verdict from
// clean pairs (more A/A flags than allowed, more missed trials than allowed), passes once it has
// enough clean pairs, and otherwise (the host moved under every pair within the bounded retries)
// skips, with every pair's median change in the message.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <vector>

namespace bb::test {

struct HostTolerance {
  double shift = 0.03;            // |median ratio - 1| above this: the whole host moved
  double spread = 0.03;           // a cell moved by more than this, either way...
  double spread_fraction = 0.25;  // ...in at least this fraction of the cells: the host moved unevenly
};

// One `bench diff --format json` output, read as a timing test reads it.
struct PairReading {
  std::string label;       // "A/A pair 2", "trial 1"
  int cells = 0;           // host cells: gating cells compared on both sides, the target excluded
  double host_change = 0;  // median ratio of the host cells, minus 1
  int spread = 0;          // host cells moved by more than the tolerance's `spread`
  bool host_moved = false;
  std::string why_moved;             // empty when the host held still
  std::vector<std::string> flagged;  // host cells with verdict slower/faster ("qkv on faulty slower")
  std::vector<std::string> flagged_unsettled;  // the same, where a side was UNSTABLE or CAPPED_SLOW
  std::optional<std::string> target;           // the target cell's verdict (trials), if it was in the diff
  double target_ratio = 0;
  std::string target_unsettled;  // "UNSTABLE in NEW" when a side of the target never converged, else ""
  std::string summary() const;   // one line: label, host change, spread, flags or target verdict
};

// Reads a diff's JSON. target_id/target_backend name the cell slowed on purpose ("" for A/A pairs).
PairReading read_pair(const rapidjson::Value& diff, std::string label, const std::string& target_id = "",
                      const std::string& target_backend = "", const HostTolerance& tol = {});

class TimingJudge {
 public:
  struct Needs {
    int aa_pairs = 2;        // clean A/A pairs wanted
    int max_aa_flagged = 2;  // host cells flagged over all of them, at most
    int trials = 0;          // clean trials wanted
    int max_missed = 0;      // clean trials whose target was not `slower`, at most
  };
  explicit TimingJudge(Needs needs) : needs_(needs) {}

  void add_aa(const PairReading& r);
  void add_trial(const PairReading& r);
  bool need_aa() const { return clean_aa_ < needs_.aa_pairs; }
  bool need_trials() const { return clean_trials_ < needs_.trials; }
  bool enough() const { return !need_aa() && !need_trials(); }
  bool failed() const { return aa_flagged_ > needs_.max_aa_flagged || missed_ > needs_.max_missed; }
  // Why it failed (with the log), or why it could not decide (every pair's reading), for the message.
  std::string failure() const;
  std::string skip_reason() const;
  int left_out() const { return left_out_; }
  const std::string& log() const { return log_; }

 private:
  Needs needs_;
  int clean_aa_ = 0, aa_flagged_ = 0, clean_trials_ = 0, missed_ = 0, left_out_ = 0;
  std::string log_;
};

}  // namespace bb::test
