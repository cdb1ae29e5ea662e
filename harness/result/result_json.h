// The result file: one JSON document per `bench run` (DESIGN.md section 6), described by
// results/schema/result-v1.schema.json. The runner rewrites it atomically after every cell, so an
// interrupted run leaves a valid file with every finished cell; `bench diff` and `bench report`
// read it back with read_result_json.
//
// Conventions of the file: times in seconds (keys end in _s), rates per second; a number that is
// NaN or infinite (a cell with no samples, a statistic undefined for n < 2) is written as null and
// read back as NaN; numbers are written in the shortest form that reads back to the same double;
// the experiment's canonical JSON is embedded as an object, and read back to the same text.
#pragma once

#include <string>

#include "result/run_result.h"

namespace bb::report {

// The result as pretty-printed JSON text (ends with a newline). std::invalid_argument when
// r.experiment_json is neither empty nor valid JSON.
std::string result_json(const RunResult& r);

// result_json(r) written to path atomically (PATH.<pid>.tmp, fsync, rename), creating missing
// parent directories. std::runtime_error naming the path on failure; an existing file is kept.
void write_result_json(const RunResult& r, const std::string& path);

// Reads a result file. std::runtime_error naming the file and the JSON pointer of the offending
// field ("results/x.json: /cells/3/stats/median_s: expected a number or null") when the file is
// unreadable, not JSON, of another schema_version, or lacks or mistypes a field the writer writes.
// Unknown fields are ignored, so files from a newer minor revision still load.
RunResult read_result_json(const std::string& path);
// The same from text; source names it in messages.
RunResult parse_result_json(const std::string& json_text, const std::string& source);

}  // namespace bb::report
