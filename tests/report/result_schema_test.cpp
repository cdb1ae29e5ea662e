// results/schema/result-v1.schema.json against what the writer writes: a full result validates, and
// each kind of damage is caught with the JSON pointer of the damaged value in the message.
#include "result/result_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <functional>
#include <limits>

#include "result/result_json.h"
#include "sample_result.h"
#include "test_dir.h"

namespace bb::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::sample_result;

const std::string kSchema = BRICKBENCH_SCHEMA_DIR "/result-v1.schema.json";

std::string edited(const std::function<void(rapidjson::Document&)>& edit) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(result_json(sample_result()).c_str());
  edit(d);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  d.Accept(w);
  return buf.GetString();
}

std::vector<std::string> errors_of(const std::function<void(rapidjson::Document&)>& edit) {
  return validate_result_json(edited(edit), kSchema);
}

TEST(ResultSchema, FullyPopulatedResultValidates) {
  EXPECT_THAT(validate_result_json(result_json(sample_result()), kSchema), ::testing::IsEmpty());
}

TEST(ResultSchema, FreshAndOddResultsValidate) {
  RunResult fresh;  // the runner's first write: nothing measured yet
  EXPECT_THAT(validate_result_json(result_json(fresh), kSchema), ::testing::IsEmpty());
  RunResult r = sample_result();
  r.cells[0].stats.stdev = std::numeric_limits<double>::quiet_NaN();
  r.cells[0].samples.push_back(std::numeric_limits<double>::infinity());
  r.state = "interrupted";
  EXPECT_THAT(validate_result_json(result_json(r), kSchema), ::testing::IsEmpty());
}

TEST(ResultSchema, WrongTypeIsReportedWithItsPointer) {
  EXPECT_THAT(
      errors_of([](auto& d) { rapidjson::Pointer("/cells/1/stats/median_s").Set(d, "fast"); }),
      ElementsAre(AllOf(HasSubstr("/cells/1/stats/median_s: expected number or null, found string \"fast\""),
                        HasSubstr("type"))));
  EXPECT_THAT(errors_of([](auto& d) { rapidjson::Pointer("/cells/0/context").Set(d, 1.5); }),
              ElementsAre(HasSubstr("/cells/0/context: expected integer, found number 1.5")));
}

TEST(ResultSchema, MissingRequiredFieldIsReportedWithItsPointer) {
  EXPECT_THAT(
      errors_of([](auto& d) { rapidjson::Pointer("/cells/2").Get(d)->RemoveMember("equivalence"); }),
      ElementsAre(HasSubstr("/cells/2/equivalence: missing required field (#/definitions/cell, required)")));
  EXPECT_THAT(errors_of([](auto& d) { d.RemoveMember("tool"); }),
              ElementsAre(HasSubstr("/tool: missing required field")));
}

TEST(ResultSchema, BadEnumIsReportedWithItsPointer) {
  EXPECT_THAT(
      errors_of([](auto& d) { rapidjson::Pointer("/cells/3/status").Set(d, "DONE"); }),
      ElementsAre(HasSubstr("/cells/3/status: \"DONE\" is not one of CONVERGED, UNSTABLE, CAPPED_SLOW, "
                            "SKIPPED, FAILED, INTERRUPTED")));
  EXPECT_THAT(
      errors_of([](auto& d) { rapidjson::Pointer("/state").Set(d, "finished"); }),
      ElementsAre(HasSubstr("/state: \"finished\" is not one of running, complete, interrupted, failed")));
}

TEST(ResultSchema, UnexpectedFieldIsReported) {
  EXPECT_THAT(errors_of([](auto& d) { rapidjson::Pointer("/cells/0/roofline/gbs").Set(d, 1); }),
              ElementsAre(HasSubstr(
                  "/cells/0/roofline/gbs: unexpected field (#/definitions/cell/properties/roofline, "
                  "additionalProperties)")));
  EXPECT_THAT(errors_of([](auto& d) {
                rapidjson::Value extra(rapidjson::kObjectType);
                extra.AddMember("a", 1, d.GetAllocator());
                d.AddMember("ollama", extra, d.GetAllocator());
              }),
              ElementsAre(HasSubstr("/ollama: unexpected field")));
}

TEST(ResultSchema, OtherViolationsNameTheKeyword) {
  EXPECT_THAT(errors_of([](auto& d) { rapidjson::Pointer("/cells/0/stats/median_ci_s/2").Set(d, 1); }),
              ElementsAre(HasSubstr("/cells/0/stats/median_ci_s: violates 'maxItems' = 2")));
}

TEST(ResultSchema, NotJsonAndMissingSchema) {
  EXPECT_THAT(validate_result_json("{\"a\":", kSchema), ElementsAre(HasSubstr("not valid JSON at offset 5")));
  EXPECT_THROW(validate_result_json("{}", "/nonexistent/schema.json"), std::runtime_error);
}

TEST(ResultSchema, DefaultPathPointsAtTheSourceTree) { EXPECT_EQ(default_result_schema_path(), kSchema); }

}  // namespace
}  // namespace bb::report
