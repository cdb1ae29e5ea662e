// Checking a result file against its JSON Schema (results/schema/result-v1.schema.json, draft-04,
// validated with RapidJSON's SchemaValidator).
#pragma once

#include <string>
#include <vector>

namespace bb::report {

// The schema violations of json_text; empty = valid. Each message starts with the JSON pointer of the
// offending value, names the rule and where the schema states it, e.g.
//   /cells/0/status: "DONE" is not one of CONVERGED, UNSTABLE, ... (#/definitions/cell/properties/status,
//   enum) /cells/0/stats: missing required field (#/definitions/cell, required)
// RapidJSON stops at the first violation, so there is at most one (a missing-fields or unexpected-fields
// violation lists every field concerned). Text that is not JSON gives one message with the offset.
// std::runtime_error when the schema file cannot be read or is not a valid schema.
std::vector<std::string> validate_result_json(const std::string& json_text, const std::string& schema_path);

// results/schema/result-v1.schema.json in the source tree this build came from.
std::string default_result_schema_path();

}  // namespace bb::report
