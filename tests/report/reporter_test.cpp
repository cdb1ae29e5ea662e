// The human- and spreadsheet-facing outputs: console table, markdown, CSV, progress lines.
#include "report/reporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "report/table.h"
#include "result/number_format.h"
#include "result/result_json.h"
#include "sample_result.h"

namespace bb::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::sample_result;

std::string render(std::string_view format, const RunResult& r) {
  std::ostringstream out;
  make_reporter(format)->report(r, out);
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The line of text that contains both needles.
std::string line_with(const std::string& text, const std::string& a, const std::string& b) {
  for (const auto& l : lines_of(text)) {
    if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return l;
  }
  return "";
}

const Cell& cell(const RunResult& r, const std::string& id, const std::string& backend) {
  for (const Cell& c : r.cells) {
    if (c.id == id && c.backend == backend) return c;
  }
  throw std::logic_error("no cell " + id);
}

// RFC 4180 parser, independent of the writer: quoted fields, doubled quotes, commas and newlines inside.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        field.push_back(ch);
      }
    } else if (ch == '"' && field.empty() && !field_started) {
      quoted = field_started = true;
    } else if (ch == ',') {
      rows.back().push_back(field);
      field.clear();
      field_started = false;
    } else if (ch == '\n') {
      rows.back().push_back(field);
      field.clear();
      field_started = false;
      rows.emplace_back();
    } else {
      field.push_back(ch);
      field_started = true;
    }
  }
  if (rows.back().empty() && field.empty()) rows.pop_back();
  return rows;
}

TEST(NumberFormat, DurationsPickAUnitAndFourDigits) {
  EXPECT_EQ(format_duration(812.34e-9), "812.3 ns");
  EXPECT_EQ(format_duration(5.1e-6), "5.100 us");
  EXPECT_EQ(format_duration(12.345e-6), "12.35 us");  // 12.345 is a hair below in binary
  EXPECT_EQ(format_duration(999.97e-6), "1.000 ms");
  EXPECT_EQ(format_duration(0.31), "310.0 ms");
  EXPECT_EQ(format_duration(2.5), "2.500 s");
  EXPECT_EQ(format_duration(3e-10), "0.300 ns");
  EXPECT_EQ(format_duration(std::nan("")), "-");
  EXPECT_EQ(shortest_double(0.1), "0.1");
  EXPECT_EQ(shortest_double(1e-7), "1e-07");
  EXPECT_EQ(shortest_double(42), "42");
}

TEST(SummaryTable, CellTexts) {
  const RunResult r = sample_result();
  const Cell& qkv = cell(r, "qkv", "avx_bricks");
  EXPECT_THAT(median_text(qkv), ::testing::MatchesRegex("5\\.[0-9]{3} us"));
  EXPECT_THAT(median_ci_text(qkv), ::testing::MatchesRegex("\\[5\\.[0-9]{3}, 5\\.[0-9]{3}\\] us"));
  EXPECT_THAT(cv_text(qkv), ::testing::MatchesRegex("0\\.[0-9]{2}%"));
  EXPECT_EQ(budget_text(qkv), "x" + fixed(qkv.budget.gap, 2) + " A");
  EXPECT_EQ(equivalence_text(qkv), "PASS nmse=1.2e-07");
  EXPECT_EQ(gbps_text(qkv), fixed(qkv.roofline.gbps, 0));
  EXPECT_EQ(ceiling_text(qkv), fixed(100 * qkv.roofline.fraction_of_ceiling, 0) + "%");

  const Cell& dec = cell(r, "decode@64", "avx_bricks");
  EXPECT_EQ(equivalence_text(dec), "FAIL nmse=3.4e-02 top1=0.80");
  const Cell& ref = cell(r, "qkv", "scalar_ref");
  EXPECT_EQ(equivalence_text(ref), "-");
  EXPECT_EQ(budget_text(ref), "x142");  // not graded: the gap only, 3 digits
  const Cell& skipped = cell(r, "gemv.Q4_K", "avx_bricks");
  for (const auto& s : {median_text(skipped), median_ci_text(skipped), cv_text(skipped), gbps_text(skipped),
                        ceiling_text(skipped), budget_text(skipped), equivalence_text(skipped)}) {
    EXPECT_EQ(s, "-");
  }
}

TEST(ConsoleReporter, TableHasTheColumnsAndValues) {
  const RunResult r = sample_result();
  const std::string text = render("console", r);
  const auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 12u);
  EXPECT_THAT(lines[0],
              HasSubstr("brickbench 0.1.0 (0a60d36f00df) | experiment qwen2.5-coder-1.5b (hash "
                        "0123456789abcdef) | model qwen2.5-coder-1.5b (synthetic) | state complete"));
  const std::string header = lines[2];
  for (const char* col :
       {"cell", "backend", "median", "95% CI", "CV", "GB/s", "%ceil", "budget", "equivalence", "status"}) {
    EXPECT_THAT(header, HasSubstr(col));
  }
  EXPECT_THAT(lines[3], ::testing::MatchesRegex("[- ]+"));

  // Rows are grouped by cell, then backend, in order of first appearance, whatever the run order.
  std::vector<std::string> row_starts;
  for (size_t i = 4; i < 12; ++i) row_starts.push_back(lines[i].substr(0, lines[i].find("  ")));
  EXPECT_THAT(row_starts,
              ElementsAre("qkv", "qkv", "decode@64", "decode@64", "gemv.Q4_K", "gemv.Q4_K", "ffn", "ffn"));
  EXPECT_THAT(lines[4], HasSubstr("avx_bricks"));
  EXPECT_THAT(lines[5], HasSubstr("scalar_ref"));

  const Cell& qkv = cell(r, "qkv", "avx_bricks");
  const std::string qkv_line = line_with(text, "qkv ", "avx_bricks");
  for (const auto& v :
       {median_text(qkv), median_ci_text(qkv), cv_text(qkv), gbps_text(qkv), ceiling_text(qkv),
        budget_text(qkv), std::string("PASS nmse=1.2e-07"), std::string("CONVERGED")}) {
    EXPECT_THAT(qkv_line, HasSubstr(v));
  }
  EXPECT_THAT(line_with(text, "gemv.Q4_K", "avx_bricks"), HasSubstr("SKIPPED"));
  EXPECT_THAT(line_with(text, "ffn ", "avx_bricks"), HasSubstr("FAILED"));
  EXPECT_THAT(line_with(text, "ffn ", "scalar_ref"), HasSubstr("UNSTABLE"));
  EXPECT_THAT(line_with(text, "decode@64 ", "avx_bricks"), HasSubstr("FAIL nmse=3.4e-02 top1=0.80"));

  // Columns line up: every row of the table has the status column at the same offset.
  const size_t status_col = header.find("status");
  for (size_t i = 4; i < 12; ++i) {
    EXPECT_TRUE(lines[i].compare(status_col, 3, "CON") == 0 || lines[i].compare(status_col, 3, "SKI") == 0 ||
                lines[i].compare(status_col, 3, "FAI") == 0 || lines[i].compare(status_col, 3, "UNS") == 0)
        << lines[i];
  }
  for (size_t i = 2; i < 12; ++i) EXPECT_LE(lines[i].size(), 130u) << lines[i];  // the table
  for (unsigned char ch : text) EXPECT_LT(ch, 128) << "non-ASCII output";
}

TEST(ConsoleReporter, SummarySections) {
  const RunResult r = sample_result();
  const std::string text = render("console", r);
  const Cell& dec_avx = cell(r, "decode@64", "avx_bricks");
  EXPECT_THAT(text, HasSubstr("decode tok/s per backend:\n"
                              "  avx_bricks: decode@64 " +
                              tok_s_text(*dec_avx.tok_s) + " tok/s (" + budget_text(dec_avx) +
                              ")\n"
                              "  scalar_ref: decode@64 3.23 tok/s (x"));
  EXPECT_THAT(text, HasSubstr("notes:\n"));
  EXPECT_THAT(text,
              HasSubstr("  gemv.Q4_K avx_bricks: SKIPPED: UNSUPPORTED: avx_bricks has no gemv for Q4_K\n"));
  EXPECT_THAT(text,
              HasSubstr("  ffn avx_bricks: FAILED: plan failed: OUT_OF_MEMORY, \"scratch\" of 2 GiB\n"));
  EXPECT_THAT(text, HasSubstr("  ffn scalar_ref: UNSTABLE: cv 0.21 > target 0.03 after 500 samples\n"));
  EXPECT_THAT(text,
              HasSubstr("  decode@64 avx_bricks: equivalence FAIL against scalar_ref: nmse 3.40e-02 (tol "
                        "2.0e-03), max_rel 9.00e-01, top1 0.800 (min 0.850); nmse 3.4e-02 > 2.0e-03; top1 "
                        "0.80 < 0.85\n"));
  EXPECT_THAT(text, HasSubstr("skipped backends:\n  cuda_bricks: no CUDA device (cudaGetDeviceCount: 0)\n"));
  EXPECT_THAT(text, HasSubstr("warnings:\n  cpu governor is 'powersave': timings may drift\n  only 2 cores"));
}

TEST(ConsoleReporter, EmptyRun) {
  RunResult r;
  const std::string text = render("console", r);
  EXPECT_THAT(text, HasSubstr("(no cells)"));
  EXPECT_THAT(text, Not(HasSubstr("decode tok/s")));
  EXPECT_THAT(text, Not(HasSubstr("notes:")));
}

TEST(MarkdownReporter, PipeTableWithSeparatorRow) {
  const RunResult r = sample_result();
  const std::string text = render("md", r);
  const auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[2],
            "| cell | backend | median | 95% CI | CV | GB/s | %ceil | budget | equivalence | status |");
  EXPECT_EQ(lines[3], "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | :--- | :--- | :--- |");
  EXPECT_THAT(lines[4],
              ::testing::StartsWith("| qkv | avx_bricks | " + median_text(cell(r, "qkv", "avx_bricks"))));
  for (size_t i = 4; i < 12; ++i)
    EXPECT_EQ(std::count(lines[i].begin(), lines[i].end(), '|'), 11) << lines[i];
  EXPECT_THAT(text, HasSubstr("**Skipped backends**\n\n- cuda_bricks: no CUDA device"));
  EXPECT_THAT(text, HasSubstr("**Decode tok/s per backend**"));
  EXPECT_EQ(render("markdown", r), text);

  RunResult piped = r;
  piped.cells[0].id = "a|b";
  EXPECT_THAT(render("md", piped), HasSubstr("| a\\|b |"));
}

TEST(CsvReporter, ParsesBackWithQuotedFields) {
  const RunResult r = sample_result();
  const std::string text = render("csv", r);
  const auto rows = parse_csv(text);
  const auto header = CsvReporter::header();
  ASSERT_EQ(rows.size(), 1 + r.cells.size());
  EXPECT_EQ(rows[0], header);
  for (const auto& row : rows) ASSERT_EQ(row.size(), header.size());
  auto col = [&](const char* name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };

  // Row 1 is qkv on avx_bricks (table order); numbers are raw SI values that read back exactly.
  const Cell& qkv = cell(r, "qkv", "avx_bricks");
  const auto& q = rows[1];
  EXPECT_EQ(q[col("id")], "qkv");
  EXPECT_EQ(q[col("backend")], "avx_bricks");
  EXPECT_EQ(q[col("shape")], qkv.shape);  // contains a comma: quoted in the file
  EXPECT_EQ(std::stod(q[col("median_s")]), qkv.stats.median);
  EXPECT_EQ(std::stod(q[col("ci_lower_s")]), qkv.stats.median_ci.lower);
  EXPECT_EQ(std::stod(q[col("bytes_per_s")]), qkv.roofline.gbps * 1e9);
  EXPECT_EQ(std::stod(q[col("budget_s")]), 6e-6);
  EXPECT_EQ(q[col("budget_grade")], "A");
  EXPECT_EQ(q[col("equivalence")], "PASS");
  EXPECT_EQ(std::stod(q[col("nmse")]), 1.2e-7);
  EXPECT_EQ(q[col("status")], "CONVERGED");
  EXPECT_THAT(text, HasSubstr("\"1536 -> 1536+256+256, Q4_K/Q6_K, 28 layers\""));

  // The FAILED cell's reason has a comma and quotes.
  const auto& failed = rows[7];
  EXPECT_EQ(failed[col("id")], "ffn");
  EXPECT_EQ(failed[col("status")], "FAILED");
  EXPECT_EQ(failed[col("status_reason")], "plan failed: OUT_OF_MEMORY, \"scratch\" of 2 GiB");
  EXPECT_EQ(failed[col("median_s")], "");
  EXPECT_THAT(text, HasSubstr("\"plan failed: OUT_OF_MEMORY, \"\"scratch\"\" of 2 GiB\""));

  const auto& dec = rows[3];
  EXPECT_EQ(dec[col("id")], "decode@64");
  EXPECT_EQ(dec[col("weight_type")], "");
  EXPECT_EQ(std::stod(dec[col("tok_s")]), *cell(r, "decode@64", "avx_bricks").tok_s);
  EXPECT_EQ(dec[col("equivalence")], "FAIL");
  EXPECT_EQ(dec[col("top1")], "0.8");
  EXPECT_EQ(rows[5][col("weight_type")], "Q4_K");

  // No unit suffixes anywhere in numeric columns.
  for (size_t i = 1; i < rows.size(); ++i) {
    for (const char* name : {"median_s", "mean_s", "bytes_per_s", "cv", "budget_gap"}) {
      const std::string& v = rows[i][col(name)];
      if (!v.empty()) {
        size_t used = 0;
        std::stod(v, &used);
        EXPECT_EQ(used, v.size()) << name << "=" << v;
      }
    }
  }
}

TEST(CsvReporter, FieldQuoting) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field(""), "");
}

TEST(JsonReporter, WritesTheResultJson) {
  const RunResult r = sample_result();
  EXPECT_EQ(render("json", r), result_json(r));
}

TEST(Reporters, UnknownFormatListsTheKnownOnes) {
  try {
    make_reporter("html");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown output format 'html'; known: console, md, csv, json"));
  }
  for (const auto& f : reporter_formats()) EXPECT_EQ(make_reporter(f)->format(), f);
}

}  // namespace
}  // namespace bb::report
