#include "run/verdicts.h"

#include <algorithm>
#include <optional>

#include "config/brick.h"
#include "run/text.h"
#include "verify/equivalence.h"
#include "verify/logits_compare.h"

namespace bb::run {
namespace {

using config::Brick;

// generate equivalence when the tokens differ: the candidate's first tokens, teacher-forced through
// the reference (one reference decode each), are checked for top-1 with ties
constexpr int32_t kGenerateCheckTokens = 16;

std::string grade_of(double score) {
  return score >= 90 ? "A" : score >= 80 ? "B" : score >= 70 ? "C" : score >= 60 ? "D" : "F";
}

config::ToleranceClass tolerance_class(const plugin::LoadedPlugin& p, int32_t op) {
  for (const bb_capability& c : p.info().capabilities)
    if (c.op == op && (c.flags & BB_CAP_ACT_Q8)) return config::ToleranceClass::ActQ8;
  return config::ToleranceClass::FloatActivations;
}

// Greedy sequences part at the first near-tie and are different texts after it; so the candidate's
// own tokens are fed to the reference, which judges each next token. nullopt: it could not.
std::optional<double> teacher_forced_top1(const CellRunner& c, const CellRunner& ref, CellWorkloads& w,
                                          std::optional<double> tie_nmse, const ProgressSink& say) {
  workload::DecodeDriver* rd = w.driver_of(ref.backend);
  const int32_t n = std::min<int32_t>(kGenerateCheckTokens, static_cast<int32_t>(c.tokens.size()));
  if (!rd || n == 0) return std::nullopt;
  try {
    const int32_t pos = c.spec.context - 1;
    rd->write_kv_history(pos, w.seed());
    int32_t tok = w.first_token(c.spec);
    int ok = 0;
    for (int32_t i = 0; i < n; ++i) {
      const auto logits = rd->decode(tok, pos + i);
      const int32_t mine = c.tokens[static_cast<size_t>(i)];
      ok += verify::top1_acceptable(logits, mine, verify::tie_margin(logits, tie_nmse));
      tok = mine;
    }
    return static_cast<double>(ok) / n;
  } catch (const std::exception& ex) {
    say("  " + c.result.id + " on " + c.backend.name + ": the reference could not replay its tokens (" +
        ex.what() + "); top-1 without ties");
    return std::nullopt;
  }
}

verify::OutputComparison compare_generate(const CellRunner& c, const CellRunner& ref, CellWorkloads& w,
                                          std::optional<double> tie_nmse, const ProgressSink& say) {
  verify::OutputComparison cmp;
  int agree = 0;
  for (size_t i = 0; i < c.tokens.size() && i < ref.tokens.size(); ++i) agree += c.tokens[i] == ref.tokens[i];
  cmp.values = static_cast<int64_t>(c.tokens.size());
  cmp.top1_strict =
      ref.tokens.empty() ? 0.0 : static_cast<double>(agree) / static_cast<double>(ref.tokens.size());
  if (c.tokens == ref.tokens) {
    cmp.top1 = 1.0;
  } else {
    cmp.top1 = teacher_forced_top1(c, ref, w, tie_nmse, say).value_or(*cmp.top1_strict);  // else without ties
  }
  return cmp;
}

verify::OutputComparison compare_logits_or_values(const CellRunner& c, const CellRunner& ref,
                                                  std::optional<double> tie_nmse) {
  verify::OutputComparison cmp = verify::compare_outputs(c.outputs, ref.outputs);
  if (c.spec.brick != Brick::Decode) return cmp;
  int agree = 0, ok = 0;
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    const int32_t top = verify::argmax(c.outputs[i]);
    agree += top == verify::argmax(ref.outputs[i]);
    ok += verify::top1_acceptable(ref.outputs[i], top, verify::tie_margin(ref.outputs[i], tie_nmse));
  }
  cmp.top1_strict = static_cast<double>(agree) / static_cast<double>(c.outputs.size());
  cmp.top1 = static_cast<double>(ok) / static_cast<double>(c.outputs.size());
  return cmp;
}

// Equivalence against the reference's check run.
void judge_equivalence(CellRunner& c, const CellRunner* ref, CellWorkloads& w, const config::Experiment& e,
                       const ProgressSink& say) {
  report::Equivalence& eq = c.result.equivalence;
  const workload::CellSpec& s = c.spec;
  if (c.bandwidth || s.brick == Brick::Copy) {
    eq.checked = true;
    eq.pass = true;
    eq.note = "byte-exact copy of the input";
    return;
  }
  if (c.backend.reference) {
    eq.note = "this is the reference";
    return;
  }
  if (c.real_prompt) {
    eq.note = "not compared: " + c.backend.name +
              " has no session_write_kv, so it generated after a real prompt of " +
              std::to_string(s.context) + " tokens instead of the reference's synthetic KV history";
    return;
  }
  if (!ref || !ref->has_outputs) {
    eq.note = "the reference has no output for this cell";
    return;
  }
  const int32_t op = static_cast<int32_t>(config::brick_op(s.brick));
  const auto cls = tolerance_class(*c.backend.plugin, op);
  // ties for top-1 are judged with the decode bound (the logits'), for generate too
  const std::optional<double> tie_nmse = e.tolerance(Brick::Decode, BB_TYPE_ANY, cls).nmse;
  const verify::OutputComparison cmp = s.brick == Brick::Generate
                                           ? compare_generate(c, *ref, w, tie_nmse, say)
                                           : compare_logits_or_values(c, *ref, tie_nmse);
  eq = verify::judge(cmp, e.tolerance(s.brick, s.brick == Brick::Gemv ? s.weight_type : BB_TYPE_ANY, cls),
                     cls, ref->backend.name);
  if (s.brick == Brick::Generate && c.tokens != ref->tokens)
    eq.note += (eq.note.empty() ? "" : "; ") + std::string("top-1 with ties over the first ") +
               std::to_string(std::min<size_t>(kGenerateCheckTokens, c.tokens.size())) +
               " tokens teacher-forced through the reference";
  if (!eq.pass) say("  equivalence FAIL " + c.result.id + " on " + c.backend.name + ": " + eq.note);
}

// The budget's gap, score and grade from the median.
void judge_budget(report::Cell& rc) {
  if (!rc.budget.has_budget) return;
  const double us = rc.stats.median * 1e6;
  rc.budget.gap = us / rc.budget.budget_us;
  rc.budget.score = 100.0 * std::min(1.0, rc.budget.budget_us / us);
  rc.budget.grade = grade_of(rc.budget.score);
  rc.budget.pass = rc.budget.gap <= 1.0;
}

// The fraction of the backend's measured bandwidth ceiling.
void judge_roofline(report::Cell& rc, double ceiling_gbps) {
  rc.roofline.ceiling_gbps = ceiling_gbps;
  if (ceiling_gbps > 0 && rc.roofline.gbps > 0)
    rc.roofline.fraction_of_ceiling = rc.roofline.gbps / ceiling_gbps;
}

}  // namespace

void decide_verdicts(CellPlan& plan, CellWorkloads& w, const config::Experiment& e, const ProgressSink& say) {
  for (auto& c : plan.cells) {
    if (c->prepared) {
      auto it = plan.reference_cell.find(&c->spec);
      judge_equivalence(*c, it == plan.reference_cell.end() ? nullptr : it->second, w, e, say);
    }
    if (c->measured) judge_budget(c->result);
    judge_roofline(c->result, c->backend.ceiling_gbps);
  }
}

std::vector<std::string> ci_failures(const report::RunResult& r, const std::vector<RequiredBackend>& required,
                                     bool unstable_fails, std::vector<std::string>* notes) {
  std::vector<std::string> out;
  for (const auto& [name, why] : required) {  // the backend ran, nothing of it failed, something was measured
    const std::string req = ": required (" + why + ")";
    bool skipped = false, measured = false;
    for (const auto& s : r.skipped_backends)
      if (s.name == name) {
        skipped = true;
        out.push_back(name + req + " but skipped: " + s.reason);
      }
    for (const auto& c : r.cells) {
      if (c.backend != name) continue;
      measured |= !c.samples.empty();
      if (c.status == report::CellStatus::Failed)
        out.push_back(c.id + " on " + name + req + " but FAILED (" + c.status_reason + ")");
    }
    if (!skipped && !measured) out.push_back(name + req + " but none of its cells was measured");
  }
  for (const auto& c : r.cells) {
    const std::string where = c.id + " on " + c.backend;
    if (c.equivalence.checked && !c.equivalence.pass)
      out.push_back(where + ": equivalence failed (" + c.equivalence.note + ")");
    if (!c.budget.graded) continue;  // reference-only backends
    const bool unconverged =
        c.status == report::CellStatus::Unstable || c.status == report::CellStatus::CappedSlow;
    const std::string status_text =
        std::string(report::cell_status_name(c.status)) + " (" + c.status_reason + ")";
    switch (c.status) {
      case report::CellStatus::Unstable:
      case report::CellStatus::CappedSlow:
        if (unstable_fails)
          out.push_back(where + ": " + status_text);
        else if (notes)
          notes->push_back(where + ": " + status_text);
        break;
      case report::CellStatus::Failed:
      case report::CellStatus::Interrupted:
      case report::CellStatus::Crashed:
      case report::CellStatus::Timeout:
        out.push_back(where + ": " + report::cell_status_name(c.status) + " (" + c.status_reason + ")");
        break;
      default:
        break;
    }
    if (c.budget.has_budget && !c.samples.empty() && !c.budget.pass) {
      const std::string miss = where + printf_number(": over budget (x%.2f of ", c.budget.gap) +
                               printf_number("%.4g us)", c.budget.budget_us);
      if (unconverged && !unstable_fails) {
        if (notes) notes->push_back(miss + ", not judged: the cell is " + report::cell_status_name(c.status));
      } else {
        out.push_back(miss);
      }
    }
  }
  if (r.state != "complete") out.push_back("the run did not complete (" + r.state + ")");
  return out;
}

}  // namespace bb::run
