// The nesting limit of every JSON the harness reads (result files, schemas, Ollama manifests, logits
// records). rapidjson's default parser, its schema validator and its writer recurse once per level:
// a 2 MB file of '[' crashed `bench diff` with a stack overflow (issue 14, defect 7). No file the
// project writes nests deeper than about 8 levels.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bb::io {

inline constexpr int kMaxJsonDepth = 128;

// The byte offset at which `text` first nests arrays and objects deeper than max_depth (brackets
// inside strings do not count), or std::string::npos when it never does.
size_t json_too_deep(std::string_view text, int max_depth = kMaxJsonDepth);

// Throws std::runtime_error "<what>: JSON nested deeper than 128 levels at offset N; ..." when
// json_too_deep finds a place.
void check_json_depth(std::string_view text, const std::string& what);

}  // namespace bb::io
