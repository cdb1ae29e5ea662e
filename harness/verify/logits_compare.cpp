#include "verify/logits_compare.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/input_file.h"
#include "io/json_limits.h"

namespace bb::verify {
namespace {

std::vector<int32_t> read_ints(const rapidjson::Value& doc, const char* key, const std::string& path) {
  if (!doc.HasMember(key) || !doc[key].IsArray())
    throw std::runtime_error(path + ": '" + key + "' missing or not an array");
  std::vector<int32_t> out;
  for (const auto& v : doc[key].GetArray()) {
    if (!v.IsInt()) throw std::runtime_error(path + ": '" + key + "' holds a non-integer");
    out.push_back(v.GetInt());
  }
  return out;
}

std::vector<std::vector<float>> read_rows(const rapidjson::Value& doc, const char* key, int32_t n_vocab,
                                          const std::string& path) {
  if (!doc.HasMember(key) || !doc[key].IsArray())
    throw std::runtime_error(path + ": '" + key + "' missing or not an array");
  std::vector<std::vector<float>> rows;
  for (const auto& row : doc[key].GetArray()) {
    if (!row.IsArray() || static_cast<int32_t>(row.Size()) != n_vocab)
      throw std::runtime_error(path + ": a row of '" + key +
                               "' is not an array of n_vocab=" + std::to_string(n_vocab) + " numbers");
    std::vector<float> r;
    r.reserve(n_vocab);
    for (const auto& v : row.GetArray()) {
      if (!v.IsNumber()) throw std::runtime_error(path + ": '" + key + "' holds a non-number");
      r.push_back(static_cast<float>(v.GetDouble()));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

void write_row(std::FILE* f, const std::vector<float>& row) {
  std::fputc('[', f);
  for (size_t i = 0; i < row.size(); ++i) std::fprintf(f, i ? ",%.9g" : "%.9g", static_cast<double>(row[i]));
  std::fputc(']', f);
}

}  // namespace

LogitsRecord read_logits_json(const std::string& path) {
  if (auto why = io::not_a_regular_file(path)) throw std::runtime_error(path + ": " + *why);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  io::check_json_depth(text, path);
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError())
    throw std::runtime_error(path + ": JSON error at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                             rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject() || !doc.HasMember("n_vocab") || !doc["n_vocab"].IsInt() || doc["n_vocab"].GetInt() <= 0)
    throw std::runtime_error(path + ": 'n_vocab' missing or not a positive integer");
  LogitsRecord r;
  r.n_vocab = doc["n_vocab"].GetInt();
  r.prompt = read_ints(doc, "prompt", path);
  r.greedy = read_ints(doc, "greedy", path);
  r.prompt_logits = read_rows(doc, "prompt_logits", r.n_vocab, path);
  r.greedy_logits = read_rows(doc, "greedy_logits", r.n_vocab, path);
  if (r.prompt_logits.size() != r.prompt.size() || r.greedy_logits.size() != r.greedy.size())
    throw std::runtime_error(path + ": row counts do not match the token counts");
  return r;
}

void write_logits_json(const LogitsRecord& r, const std::string& path) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error(path + ": cannot write (" + tmp + ")");
  auto ints = [&](const std::vector<int32_t>& v) {
    std::fputc('[', f);
    for (size_t i = 0; i < v.size(); ++i) std::fprintf(f, i ? ", %d" : "%d", v[i]);
    std::fputc(']', f);
  };
  auto rows = [&](const std::vector<std::vector<float>>& v) {
    std::fputs("[\n", f);
    for (size_t i = 0; i < v.size(); ++i) {
      std::fputs("  ", f);
      write_row(f, v[i]);
      std::fputs(i + 1 < v.size() ? ",\n" : "\n", f);
    }
    std::fputc(']', f);
  };
  std::fprintf(f, "{\n\"n_vocab\": %d,\n\"prompt\": ", r.n_vocab);
  ints(r.prompt);
  std::fputs(",\n\"prompt_logits\": ", f);
  rows(r.prompt_logits);
  std::fputs(",\n\"greedy\": ", f);
  ints(r.greedy);
  std::fputs(",\n\"greedy_logits\": ", f);
  rows(r.greedy_logits);
  std::fputs("\n}\n", f);
  bool ok = std::fflush(f) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": write failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

LogitsAgreement compare_logits(const std::vector<std::vector<float>>& candidate,
                               const std::vector<std::vector<float>>& reference) {
  if (candidate.size() != reference.size())
    throw std::invalid_argument("compare_logits: " + std::to_string(candidate.size()) + " positions vs " +
                                std::to_string(reference.size()) + " in the reference");
  LogitsAgreement a;
  double err = 0, ref = 0;
  int agree = 0;
  for (size_t p = 0; p < candidate.size(); ++p) {
    const auto& c = candidate[p];
    const auto& r = reference[p];
    if (c.size() != r.size())
      throw std::invalid_argument("compare_logits: position " + std::to_string(p) + " has " +
                                  std::to_string(c.size()) + " logits vs " + std::to_string(r.size()));
    for (size_t i = 0; i < c.size(); ++i) {
      if (!std::isfinite(c[i])) {
        ++a.non_finite;
        continue;
      }
      double d = static_cast<double>(c[i]) - static_cast<double>(r[i]);
      err += d * d;
      ref += static_cast<double>(r[i]) * r[i];
      a.max_abs_error = std::max(a.max_abs_error, std::fabs(d));
    }
    if (argmax(c) == argmax(r)) ++agree;
  }
  a.positions = static_cast<int>(candidate.size());
  a.nmse = a.non_finite ? INFINITY : (ref > 0 ? err / ref : (err > 0 ? INFINITY : 0.0));
  a.top1_agreement = a.positions ? static_cast<double>(agree) / a.positions : 0.0;
  return a;
}

}  // namespace bb::verify
