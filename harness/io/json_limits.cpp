#include "io/json_limits.h"

#include <stdexcept>

namespace bb::io {

size_t json_too_deep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
  return std::string::npos;
}

void check_json_depth(std::string_view text, const std::string& what) {
  const size_t at = json_too_deep(text);
  if (at == std::string::npos) return;
  throw std::runtime_error(what + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels at offset " + std::to_string(at) +
                           "; no file brickbench reads nests that deep (a damaged or hostile file?)");
}

}  // namespace bb::io
