// The JSON writing helpers every writer of the harness shares (the result file, bench diff's and
// the gbench export's JSON, the HTML report's embedded data): strings by length (NUL-safe), doubles
// in their shortest round-trip form, NaN and infinities (which JSON cannot spell) as null.
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "result/number_format.h"

namespace bb::report::json {

using PrettyWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;
using CompactWriter = rapidjson::Writer<rapidjson::StringBuffer>;

template <class W>
void str(W& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// "" as null (an absent text field).
template <class W>
void str_or_null(W& w, const std::string& s) {
  if (s.empty())
    w.Null();
  else
    str(w, s);
}

template <class W>
void num(W& w, double x) {
  if (!std::isfinite(x)) {
    w.Null();
    return;
  }
  const std::string s = shortest_double(x);
  w.RawValue(s.data(), s.size(), rapidjson::kNumberType);
}

template <class W>
void opt_num(W& w, const std::optional<double>& x) {
  if (x)
    num(w, *x);
  else
    w.Null();
}

}  // namespace bb::report::json
