// Comparing two result files cell by cell: the statistics and the verdicts (diff.h says what each means).
#include "report/diff.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "measure/seeded_index.h"
#include "measure/significance.h"
#include "measure/statistics.h"
#include "report/table.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A cell whose samples can be compared: the protocol ran and left at least 2 finite samples.
bool measured(const Cell& c) {
  const bool ran = c.status == CellStatus::Converged || c.status == CellStatus::Unstable ||
                   c.status == CellStatus::CappedSlow;
  if (!ran || c.samples.size() < 2) return false;
  return std::all_of(c.samples.begin(), c.samples.end(), [](double x) { return std::isfinite(x) && x > 0; });
}

bool unstable(const Cell& c) {
  return c.status == CellStatus::Unstable || c.status == CellStatus::CappedSlow;
}

// FNV-1a of the cell's key: each cell gets its own bootstrap stream, independent of the cells around it.
uint64_t key_hash(const std::string& id, const std::string& backend) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
  };
  mix(id);
  mix("\x1f");
  mix(backend);
  return h;
}

double median_in_place(std::vector<double>& v) {
  const size_t n = v.size();
  const size_t mid = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

std::string percent(double fraction, int decimals) {
  std::string s = fraction >= 0 ? "+" : "";
  s.append(fixed(100.0 * fraction, decimals)).append("%");
  return s;
}

std::string short_digest(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) : s; }

const std::string* find_value(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

std::string quoted(const std::string* v) { return v ? "'" + *v + "'" : "(absent)"; }

// The smallest p-value the U test can give n_a vs n_b samples: complete separation, no ties.
double best_possible_p(size_t n_a, size_t n_b) {
  std::vector<double> a(n_a), b(n_b);
  for (size_t i = 0; i < n_a; ++i) a[i] = static_cast<double>(i);
  for (size_t i = 0; i < n_b; ++i) b[i] = static_cast<double>(n_a + i);
  return measure::mann_whitney_u(a, b).p_value;
}

// Every k-th sample, in recorded order, so that at most m remain (time structure kept for the
// block bootstrap).
std::vector<double> thinned(const std::vector<double>& x, size_t m) {
  const size_t k = (x.size() + m - 1) / m;
  std::vector<double> out;
  out.reserve(x.size() / k + 1);
  for (size_t i = 0; i < x.size(); i += k) out.push_back(x[i]);
  return out;
}

CellDiff compare_cells(const Cell& a, const Cell& b, const DiffSettings& s) {
  CellDiff d;
  d.id = a.id;
  d.backend = a.backend;
  d.brick = a.brick;
  d.shape = a.shape;
  d.status_base = cell_status_name(a.status);
  d.status_new = cell_status_name(b.status);
  d.n_base = static_cast<int64_t>(a.samples.size());
  d.n_new = static_cast<int64_t>(b.samples.size());
  d.median_base = measure::median(a.samples);
  d.median_new = measure::median(b.samples);
  d.ratio = d.median_new / d.median_base;
  // The bootstrap draws resamples x (n_a + n_b) samples. Past kBootstrapDraws it runs on every k-th
  // sample of a side with more than m: a little wider an interval, and seconds instead of minutes on
  // cells of millions of samples (issue 14, defect 16: 3M samples did not finish in 60 s).
  const std::vector<double>*sa = &a.samples, *sb = &b.samples;
  std::vector<double> ta, tb;
  std::string thin_note;
  if (static_cast<double>(a.samples.size() + b.samples.size()) * static_cast<double>(s.resamples) >
      kBootstrapDraws) {
    const auto m =
        std::max<size_t>(1000, static_cast<size_t>(kBootstrapDraws / static_cast<double>(s.resamples) / 2));
    if (a.samples.size() > m) sa = &(ta = thinned(a.samples, m));
    if (b.samples.size() > m) sb = &(tb = thinned(b.samples, m));
    thin_note = "interval from " + std::to_string(sa->size()) + " of " + std::to_string(a.samples.size()) +
                " / " + std::to_string(sb->size()) + " of " + std::to_string(b.samples.size()) +
                " samples (every k-th)";
  }
  const RatioInterval ci = bootstrap_ratio_of_medians(*sa, *sb, s.resamples, s.confidence,
                                                      s.seed ^ key_hash(a.id, a.backend), s.block_bootstrap);
  d.ratio_lower = ci.lower;
  d.ratio_upper = ci.upper;
  d.p_value = measure::mann_whitney_u(a.samples, b.samples).p_value;

  const double up = 1.0 + s.min_effect;
  const double down = 1.0 / up;
  const bool shaky = unstable(a) || unstable(b);
  const bool significant = d.p_value < s.alpha;
  if (significant && d.ratio > up && d.ratio_lower > (shaky ? up : 1.0)) {
    d.verdict = DiffVerdict::Slower;
  } else if (significant && d.ratio < down && d.ratio_upper < (shaky ? down : 1.0)) {
    d.verdict = DiffVerdict::Faster;
  } else if (d.ratio_lower >= down && d.ratio_upper <= up) {
    d.verdict = DiffVerdict::Same;  // whatever changed, it is smaller than the minimum effect
  } else {
    d.verdict = DiffVerdict::Noisy;
    if (!significant && best_possible_p(a.samples.size(), b.samples.size()) >= s.alpha) {
      d.note = "too few samples (" + std::to_string(d.n_base) + " vs " + std::to_string(d.n_new) +
               "): the U test cannot reach p < " + shortest_double(s.alpha) + " however large the change";
    } else if (significant && (d.ratio > up || d.ratio < down)) {
      d.note = std::string("change beyond the minimum effect and p < alpha, but ") +
               (shaky ? "a cell is " + (unstable(a) ? d.status_base : d.status_new) +
                            " and the CI of the ratio reaches within the minimum effect"
                      : "the CI of the ratio includes no change");
    } else if (d.ratio > up || d.ratio < down) {
      d.note = "change beyond the minimum effect, not significant (p >= alpha)";
    } else {
      d.note = "CI of the ratio reaches past the minimum effect";
    }
  }
  if (!thin_note.empty()) d.note = d.note.empty() ? thin_note : d.note + "; " + thin_note;
  return d;
}

CellDiff one_sided(const Cell& c, bool in_base, const Cell* other) {
  CellDiff d;
  d.id = c.id;
  d.backend = c.backend;
  d.brick = c.brick;
  d.shape = c.shape;
  const std::string status = cell_status_name(c.status);
  const std::string other_status = other ? cell_status_name(other->status) : "";
  (in_base ? d.status_base : d.status_new) = status;
  (in_base ? d.status_new : d.status_base) = other_status;
  (in_base ? d.n_base : d.n_new) = static_cast<int64_t>(c.samples.size());
  if (other) (in_base ? d.n_new : d.n_base) = static_cast<int64_t>(other->samples.size());
  // The other side was not measured (too few samples to compare): no median of it is shown, as if
  // it were one.
  (in_base ? d.median_base : d.median_new) = measure::median(c.samples);
  (in_base ? d.median_new : d.median_base) = kNaN;
  d.ratio = d.ratio_lower = d.ratio_upper = kNaN;
  d.p_value = kNaN;
  d.verdict = in_base ? DiffVerdict::OnlyInBase : DiffVerdict::OnlyInNew;
  const char* other_file = in_base ? "NEW" : "BASE";
  if (!other) {
    d.note = std::string("absent from ") + other_file;
  } else {
    d.note = std::string("not measured in ") + other_file + " (" + other_status +
             (other->status_reason.empty() ? "" : ": " + other->status_reason) + ")";
  }
  return d;
}

void check_settings(const DiffSettings& s) {
  if (!(s.alpha > 0 && s.alpha < 1))
    throw std::invalid_argument("alpha = " + shortest_double(s.alpha) + " is outside (0, 1); e.g. 0.01");
  if (!(s.min_effect >= 0 && std::isfinite(s.min_effect)))
    throw std::invalid_argument("min effect = " + shortest_double(s.min_effect) +
                                " must be >= 0; e.g. 0.03 (3%)");
  if (!(s.confidence > 0 && s.confidence < 1))
    throw std::invalid_argument("confidence = " + shortest_double(s.confidence) + " is outside (0, 1)");
  if (s.resamples < 1) throw std::invalid_argument("bootstrap resamples must be >= 1");
}

}  // namespace

const char* diff_verdict_name(DiffVerdict v) {
  switch (v) {
    case DiffVerdict::Faster:
      return "faster";
    case DiffVerdict::Slower:
      return "slower";
    case DiffVerdict::Same:
      return "same";
    case DiffVerdict::Noisy:
      return "noisy";
    case DiffVerdict::OnlyInBase:
      return "only-in-base";
    case DiffVerdict::OnlyInNew:
      return "only-in-new";
  }
  return "unknown";
}

int DiffResult::count(DiffVerdict v) const {
  return static_cast<int>(std::count_if(cells.begin(), cells.end(),
                                        [&](const CellDiff& c) { return c.gates && c.verdict == v; }));
}

RatioInterval bootstrap_ratio_of_medians(const std::vector<double>& a, const std::vector<double>& b,
                                         int64_t resamples, double confidence, uint64_t seed, bool blocks) {
  if (a.empty() || b.empty() || resamples < 1) return {kNaN, kNaN};
  std::mt19937_64 rng(seed);
  // Circular moving blocks of about n^(1/3) consecutive samples (Kuensch 1989; Politis & Romano 1992):
  // samples are recorded in time order and a busy machine slows runs of consecutive samples, so
  // resampling single samples would treat clumped interference as independent and give intervals
  // too narrow for the run-to-run variation they are meant to cover.
  auto resample = [&](const std::vector<double>& x, std::vector<double>& out) {
    const size_t n = x.size();
    const size_t len =
        blocks ? std::max<size_t>(1, static_cast<size_t>(std::lround(std::cbrt(static_cast<double>(n))))) : 1;
    for (size_t i = 0; i < n;) {
      const size_t start = measure::seeded_index(rng, n);
      for (size_t k = 0; k < len && i < n; ++k, ++i) out[i] = x[(start + k) % n];
    }
  };
  std::vector<double> ra(a.size()), rb(b.size()), ratios(static_cast<size_t>(resamples));
  for (double& r : ratios) {
    resample(a, ra);
    resample(b, rb);
    r = median_in_place(rb) / median_in_place(ra);
  }
  std::sort(ratios.begin(), ratios.end());
  const double tail = 100.0 * (1.0 - confidence) / 2.0;
  return {measure::percentile_sorted(ratios, tail), measure::percentile_sorted(ratios, 100.0 - tail)};
}

std::vector<std::string> setup_differences(const RunResult& base, const RunResult& next) {
  std::vector<std::string> out;
  // Machine: every environment key (CPU, cores, governor, memory, OS, kernel, host, compiler, GPUs).
  std::vector<std::string> keys;
  for (const auto& kv : {base.environment, next.environment})
    for (const auto& [k, v] : kv)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  std::string env;
  for (const auto& k : keys) {
    const std::string* x = find_value(base.environment, k);
    const std::string* y = find_value(next.environment, k);
    if (x && y && *x == *y) continue;
    if (!env.empty()) env.append("; ");
    env.append(k).append(" ").append(quoted(x)).append(" vs ").append(quoted(y));
  }
  if (!env.empty()) out.push_back("machine differs: " + env);

  if (base.model.sha256 != next.model.sha256) {
    out.push_back("model differs: sha256 " + short_digest(base.model.sha256) + " (" + base.model.name +
                  ") vs " + short_digest(next.model.sha256) + " (" + next.model.name + ")");
  }
  for (const auto& p : base.plugins) {
    auto q = std::find_if(next.plugins.begin(), next.plugins.end(),
                          [&](const PluginRecord& x) { return x.name == p.name; });
    if (q == next.plugins.end()) {
      out.push_back("plugin " + p.name + " is in BASE only");
      continue;
    }
    if (p.version != q->version || p.sha256 != q->sha256 || p.abi_major != q->abi_major ||
        p.abi_minor != q->abi_minor) {
      out.push_back("plugin build differs: " + p.name + " " + p.version + " sha256 " +
                    short_digest(p.sha256) + " vs " + q->version + " sha256 " + short_digest(q->sha256));
    }
  }
  for (const auto& q : next.plugins) {
    if (std::none_of(base.plugins.begin(), base.plugins.end(),
                     [&](const PluginRecord& x) { return x.name == q.name; }))
      out.push_back("plugin " + q.name + " is in NEW only");
  }
  if (base.experiment_hash != next.experiment_hash) {
    out.push_back("protocol differs: experiment hash " + short_digest(base.experiment_hash) + " (" +
                  base.experiment_name + ") vs " + short_digest(next.experiment_hash) + " (" +
                  next.experiment_name + "): bricks, shapes, budgets or sampling settings changed");
  }
  if (base.state != "complete") out.push_back("BASE run state is '" + base.state + "', not complete");
  if (next.state != "complete") out.push_back("NEW run state is '" + next.state + "', not complete");
  return out;
}

DiffResult diff_results(const RunResult& base, const RunResult& next, const DiffSettings& settings,
                        std::string base_label, std::string new_label) {
  check_settings(settings);
  DiffResult d;
  d.settings = settings;
  d.base_label = std::move(base_label);
  d.new_label = std::move(new_label);
  d.base_started_utc = base.started_utc;
  d.new_started_utc = next.started_utc;

  auto find = [](const RunResult& r, const Cell& c) -> const Cell* {
    for (const Cell& x : r.cells)
      if (x.id == c.id && x.backend == c.backend) return &x;
    return nullptr;
  };
  for (size_t i : table_order(base)) {
    const Cell& a = base.cells[i];
    const Cell* b = find(next, a);
    const bool ma = measured(a), mb = b && measured(*b);
    if (ma && mb) {
      d.cells.push_back(compare_cells(a, *b, settings));
    } else if (ma) {
      d.cells.push_back(one_sided(a, true, b));
    } else if (mb) {
      d.cells.push_back(one_sided(*b, false, &a));
    }
    // Neither measured (skipped in both, say): nothing to compare, nothing to say.
  }
  for (size_t i : table_order(next)) {
    const Cell& b = next.cells[i];
    if (!find(base, b) && measured(b)) d.cells.push_back(one_sided(b, false, nullptr));
  }

  for (CellDiff& c : d.cells) c.gates = c.id != "bandwidth";

  std::map<std::string, double> log_sum;
  for (const CellDiff& c : d.cells) {
    if (!c.gates) continue;  // the ceiling probe is the machine, not a brick of the backend
    auto it = std::find_if(d.backends.begin(), d.backends.end(),
                           [&](const BackendDiffSummary& s) { return s.backend == c.backend; });
    if (it == d.backends.end()) {
      d.backends.push_back(BackendDiffSummary{c.backend});
      it = d.backends.end() - 1;
    }
    switch (c.verdict) {
      case DiffVerdict::Faster:
        ++it->faster;
        break;
      case DiffVerdict::Slower:
        ++it->slower;
        break;
      case DiffVerdict::Same:
        ++it->same;
        break;
      case DiffVerdict::Noisy:
        ++it->noisy;
        break;
      case DiffVerdict::OnlyInBase:
      case DiffVerdict::OnlyInNew:
        ++it->only_in_one;
        break;
    }
    if (c.compared()) {
      ++it->compared;
      log_sum[c.backend] += std::log(c.ratio);
    }
  }
  for (auto& s : d.backends) s.geomean_ratio = s.compared ? std::exp(log_sum[s.backend] / s.compared) : kNaN;
  d.warnings = setup_differences(base, next);
  // Cells the interference sentinel flagged (run/host_load.h): their change may be the machine's.
  for (const auto& [run, label] : {std::pair{&base, &d.base_label}, std::pair{&next, &d.new_label}}) {
    int read = 0, flagged = 0;
    for (const Cell& c : run->cells)
      if (c.interference) {
        ++read;
        flagged += c.interference->flagged ? 1 : 0;
      }
    if (flagged > 0)
      d.warnings.push_back(*label + ": " + std::to_string(flagged) + " of " + std::to_string(read) +
                           " cells were measured under interference (other processes busy beside the run): "
                           "their changes may be the machine's; rerun on a quiet machine");
  }
  // Most cells moving together, each by about as much, is what a change of the machine looks like
  // (clock frequency, other processes' load): measured on the development machine, A/A pairs taken
  // minutes apart had every cell of both backends 4-5% slower at once. Verdicts stay as they are; the
  // warning says to rerun before believing them.
  {
    std::vector<double> ratios;
    for (const CellDiff& c : d.cells)
      if (c.gates && c.compared()) ratios.push_back(c.ratio);
    const double up = 1.0 + settings.min_effect;
    const auto slower = std::count_if(ratios.begin(), ratios.end(), [&](double r) { return r > up; });
    const auto faster = std::count_if(ratios.begin(), ratios.end(), [&](double r) { return r < 1.0 / up; });
    const auto n = static_cast<int64_t>(ratios.size());
    const auto moved = std::max(slower, faster);
    if (n >= 4 && 2 * moved >= n) {
      const double m = measure::median(ratios);
      d.warnings.push_back(std::to_string(moved) + " of " + std::to_string(n) +
                           " cells moved the same way (median change " + change_text(m) +
                           "): a machine-wide change (clock frequency, other load) is likely; "
                           "rerun both before trusting the verdicts");
    }
  }
  for (const CellDiff& c : d.cells) {
    if (c.gates || (c.verdict != DiffVerdict::Slower && c.verdict != DiffVerdict::Faster)) continue;
    d.warnings.push_back(
        "the measured bandwidth ceiling of " + c.backend + " moved " + change_text(1.0 / c.ratio) +
        " (copy time " + change_text(c.ratio) + ", p " + p_value_text(c.p_value) +
        "): the machine's memory system differed between the runs; memory-bound cells may have "
        "moved with it");
  }
  return d;
}

std::string change_text(double ratio) { return std::isfinite(ratio) ? percent(ratio - 1.0, 1) : "-"; }

std::string change_ci_text(const CellDiff& c) {
  if (!std::isfinite(c.ratio_lower) || !std::isfinite(c.ratio_upper)) return "-";
  // Appends rather than operator+ chains: gcc 12 -O3 sees a false -Wrestrict in "[" + std::string.
  std::string s = "[";
  s.append(percent(c.ratio_lower - 1.0, 1)).append(", ").append(percent(c.ratio_upper - 1.0, 1)).append("]");
  return s;
}

std::string p_value_text(double p) {
  if (!std::isfinite(p)) return "-";
  if (p < 1e-6) return "<1e-6";
  if (p < 0.001) return scientific(p, 1);
  return fixed(p, 4);
}

std::string missing_text(const DiffResult& d) {
  // Per backend (first appearance order): its missing cells, or all of them when none of its BASE
  // cells reached NEW.
  std::vector<std::string> backends;
  std::map<std::string, std::vector<std::string>> missing;
  std::map<std::string, int> in_base;
  for (const auto& c : d.cells) {
    if (!c.gates || c.status_base.empty()) continue;
    if (std::find(backends.begin(), backends.end(), c.backend) == backends.end())
      backends.push_back(c.backend);
    if (c.verdict != DiffVerdict::OnlyInNew) ++in_base[c.backend];
    if (c.verdict == DiffVerdict::OnlyInBase) missing[c.backend].push_back(c.id);
  }
  std::string s;
  for (const auto& b : backends) {
    const auto& ids = missing[b];
    if (ids.empty()) continue;
    if (!s.empty()) s += "; ";
    if (static_cast<int>(ids.size()) == in_base[b] && ids.size() > 1) {
      s += "backend " + b + " (all " + std::to_string(ids.size()) + " of its cells)";
      continue;
    }
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + ids[i];
    s += " on " + b;
  }
  return s;
}

std::string diff_outcome_line(const DiffResult& d) {
  const std::string effect = fixed(100.0 * d.settings.min_effect, 1) + "%";
  const int slower = d.count(DiffVerdict::Slower);
  const int missing = d.missing();
  std::string missing_part;
  if (missing > 0)
    missing_part = (d.settings.allow_missing ? "missing (accepted, --allow-missing): " : "MISSING: ") +
                   std::to_string(missing) + " cell" + (missing == 1 ? "" : "s") +
                   " measured in BASE but not in NEW: " + missing_text(d) +
                   (d.settings.allow_missing ? "" : " (bench diff --allow-missing accepts that)");
  if (slower > 0) {
    std::string s = "REGRESSION: " + std::to_string(slower) + " cell" + (slower == 1 ? "" : "s") +
                    " significantly slower by more than " + effect + ":";
    for (const auto& c : d.cells)
      if (c.gates && c.verdict == DiffVerdict::Slower)
        s.append(" ")
            .append(c.id)
            .append(" on ")
            .append(c.backend)
            .append(" (")
            .append(change_text(c.ratio))
            .append(")");
    if (!missing_part.empty()) s.append("; ").append(missing_part);
    return s;
  }
  if (missing > 0 && !d.settings.allow_missing) return missing_part;
  std::string s = "OK: no cell significantly slower by more than " + effect + " (" +
                  std::to_string(d.count(DiffVerdict::Faster)) + " faster, " +
                  std::to_string(d.count(DiffVerdict::Same)) + " same, " +
                  std::to_string(d.count(DiffVerdict::Noisy)) + " noisy, " +
                  std::to_string(d.count(DiffVerdict::OnlyInBase) + d.count(DiffVerdict::OnlyInNew)) +
                  " only in one file)";
  if (!missing_part.empty()) s.append("; ").append(missing_part);
  return s;
}

std::unique_ptr<DiffReporter> make_diff_reporter(std::string_view format) {
  if (format == "console") return std::make_unique<DiffConsoleReporter>();
  if (format == "md" || format == "markdown") return std::make_unique<DiffMarkdownReporter>();
  if (format == "json") return std::make_unique<DiffJsonReporter>();
  std::string msg = "unknown diff format '";
  msg.append(format).append("'; known: console, md, json");
  throw std::invalid_argument(msg);
}

}  // namespace bb::report
