#include "timing_judge.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include "measure/statistics.h"

namespace bb::test {
namespace {

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", 100 * fraction);
  return buf;
}

// "UNSTABLE in NEW" when a side of the diff's cell never reached its CV target, else "".
std::string unsettled_side(const rapidjson::Value& cell) {
  std::string found;
  for (const auto& [key, side] : {std::pair{"status_base", " in BASE"}, std::pair{"status_new", " in NEW"}}) {
    const std::string status = cell[key].GetString();
    if (status == "UNSTABLE" || status == "CAPPED_SLOW") found = status + side;
  }
  return found;
}

}  // namespace

std::string PairReading::summary() const {
  std::string s = label + ": host " + percent(host_change) + " (median of " + std::to_string(cells) +
                  " cells), " + std::to_string(spread) + " moved beyond the spread tolerance";
  if (host_moved) s += ", left out: " + why_moved;
  if (target) s += "; target " + *target + " ratio " + percent(target_ratio - 1);
  if (target && !target_unsettled.empty()) s += " (" + target_unsettled + ")";
  if (!flagged.empty()) {
    s += "; flagged:";
    for (const auto& f : flagged) s += " [" + f + "]";
  }
  if (!flagged_unsettled.empty()) {
    s += "; flagged, not counted (the cell did not converge):";
    for (const auto& f : flagged_unsettled) s += " [" + f + "]";
  }
  return s;
}

PairReading read_pair(const rapidjson::Value& diff, std::string label, const std::string& target_id,
                      const std::string& target_backend, const HostTolerance& tol) {
  PairReading r;
  r.label = std::move(label);
  std::vector<double> ratios;
  for (const auto& c : diff["cells"].GetArray()) {
    const std::string id = c["id"].GetString(), backend = c["backend"].GetString();
    const std::string verdict = c["verdict"].GetString();
    const bool compared = verdict != "only-in-base" && verdict != "only-in-new" && c["ratio"].IsNumber();
    if (id == target_id && backend == target_backend) {
      r.target = verdict;
      r.target_ratio = compared ? c["ratio"].GetDouble() : 0;
      r.target_unsettled = unsettled_side(c);
      continue;
    }
    if (!compared || !c["gates"].GetBool()) continue;  // the bandwidth probe measures the machine
    const double ratio = c["ratio"].GetDouble();
    ratios.push_back(ratio);
    r.spread += std::fabs(ratio - 1) > tol.spread;
    if (verdict == "slower" || verdict == "faster") {
      const std::string flag = id + " on " + backend + " " + verdict + " " + percent(ratio - 1);
      const std::string unsettled = unsettled_side(c);
      if (unsettled.empty())
        r.flagged.push_back(flag);
      else
        r.flagged_unsettled.push_back(flag + ", " + unsettled);
    }
  }
  r.cells = static_cast<int>(ratios.size());
  r.host_change = ratios.empty() ? 0.0 : measure::median(ratios) - 1;
  if (std::fabs(r.host_change) > tol.shift) {
    r.why_moved = "the host cells' median moved " + percent(r.host_change) + " (tolerance " +
                  percent(tol.shift).substr(1) + ")";
  } else if (r.spread >= 2 && r.spread >= tol.spread_fraction * r.cells) {
    r.why_moved = std::to_string(r.spread) + " of " + std::to_string(r.cells) +
                  " host cells moved by more than " + percent(tol.spread).substr(1);
  }
  r.host_moved = !r.why_moved.empty();
  return r;
}

void TimingJudge::add_aa(const PairReading& r) {
  log_ += r.summary() + "\n";
  if (r.host_moved) {
    ++left_out_;
    return;
  }
  if (!need_aa()) return;
  ++clean_aa_;
  aa_flagged_ += static_cast<int>(r.flagged.size());
}

void TimingJudge::add_trial(const PairReading& r) {
  log_ += r.summary() + "\n";
  if (r.host_moved || (r.target == "noisy" && !r.target_unsettled.empty())) {
    if (!r.host_moved) log_ += "  left out: the target cell did not converge (" + r.target_unsettled + ")\n";
    ++left_out_;
    return;
  }
  if (!need_trials()) return;
  ++clean_trials_;
  missed_ += r.target.value_or("absent") != "slower";
}

std::string TimingJudge::failure() const {
  std::string s;
  if (aa_flagged_ > needs_.max_aa_flagged)
    s += "clean A/A pairs flagged " + std::to_string(aa_flagged_) + " cells (at most " +
         std::to_string(needs_.max_aa_flagged) + " allowed over " + std::to_string(needs_.aa_pairs) +
         " pairs): the detector raises false alarms on a host that held still\n";
  if (missed_ > needs_.max_missed)
    s += std::to_string(missed_) + " clean trials missed the slowdown (at most " +
         std::to_string(needs_.max_missed) + " allowed): the detector does not see it\n";
  return s + log_;
}

std::string TimingJudge::skip_reason() const {
  return "the host moved under the pairs, so they cannot judge the detector: " + std::to_string(clean_aa_) +
         " of " + std::to_string(needs_.aa_pairs) + " clean A/A pairs, " + std::to_string(clean_trials_) +
         " of " + std::to_string(needs_.trials) + " clean trials, " + std::to_string(left_out_) +
         " pairs left out within the bounded retries:\n" + log_;
}

}  // namespace bb::test
