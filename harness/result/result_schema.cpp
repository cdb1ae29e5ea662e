// Result-file validation with RapidJSON's draft-04 SchemaValidator, plus the detail its error
// report lacks (which field is missing or unexpected, which values an enum allows).
#include "result/result_schema.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/json_limits.h"

#ifndef BRICKBENCH_RESULT_SCHEMA_DIR
#define BRICKBENCH_RESULT_SCHEMA_DIR "results/schema"
#endif

namespace bb::report {
namespace {

using rapidjson::Value;

std::string read_text(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string msg = "cannot open ";
    msg.append(what).append(" ").append(path);
    throw std::runtime_error(msg);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string pointer_text(const rapidjson::Pointer& p) {
  rapidjson::StringBuffer buf;
  p.Stringify(buf);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string schema_pointer_text(const rapidjson::Pointer& p) {
  rapidjson::StringBuffer buf;
  p.StringifyUriFragment(buf);  // "#/definitions/cell"
  return std::string(buf.GetString(), buf.GetSize());
}

std::string compact(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  std::string s(buf.GetString(), buf.GetSize());
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string json_type(const Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsInt64() || v.IsUint64()) return "integer";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  return "object";
}

std::string join(const Value& array, const char* sep) {
  std::string s;
  for (const auto& e : array.GetArray()) {
    if (!s.empty()) s.append(sep);
    s.append(e.IsString() ? std::string(e.GetString(), e.GetStringLength()) : compact(e));
  }
  return s;
}

std::string child_pointer(const std::string& parent, const std::string& key) {
  std::string p = parent;
  p.push_back('/');
  for (char ch : key) {
    if (ch == '~') {
      p.append("~0");
    } else if (ch == '/') {
      p.append("~1");
    } else {
      p.push_back(ch);
    }
  }
  return p;
}

std::string where(const std::string& doc_pointer) {
  return doc_pointer.empty() ? std::string("(document root)") : doc_pointer;
}

// Messages for one failure: the keyword says what kind, the two values say exactly what.
std::vector<std::string> describe(const std::string& doc_ptr, const Value* doc_value,
                                  const std::string& schema_ptr, const Value* schema,
                                  const std::string& keyword) {
  std::string rule = " (";
  rule.append(schema_ptr).append(", ").append(keyword).append(")");
  std::vector<std::string> out;

  if (keyword == "required" && schema && doc_value && doc_value->IsObject() &&
      schema->HasMember("required")) {
    for (const auto& name : (*schema)["required"].GetArray()) {
      if (!name.IsString() || doc_value->HasMember(name)) continue;
      out.push_back(where(child_pointer(doc_ptr, name.GetString())) + ": missing required field" + rule);
    }
  } else if (keyword == "additionalProperties" && schema) {
    // RapidJSON points at the unexpected member itself; the schema is its parent object's.
    const Value* props = schema->HasMember("properties") ? &(*schema)["properties"] : nullptr;
    const size_t slash = doc_ptr.rfind('/');
    const std::string last = slash == std::string::npos ? std::string() : doc_ptr.substr(slash + 1);
    if (slash != std::string::npos && props && props->IsObject() && last.find('~') == std::string::npos &&
        !props->HasMember(last.c_str())) {
      out.push_back(where(doc_ptr) + ": unexpected field" + rule);
    }
  } else if (keyword == "enum" && schema && doc_value && schema->HasMember("enum")) {
    out.push_back(where(doc_ptr) + ": " + compact(*doc_value) + " is not one of " +
                  join((*schema)["enum"], ", ") + rule);
  } else if (keyword == "type" && schema && doc_value && schema->HasMember("type")) {
    const Value& t = (*schema)["type"];
    const std::string expected = t.IsArray() ? join(t, " or ") : t.IsString() ? t.GetString() : compact(t);
    out.push_back(where(doc_ptr) + ": expected " + expected + ", found " + json_type(*doc_value) + " " +
                  compact(*doc_value) + rule);
  }
  if (out.empty()) {
    std::string msg = where(doc_ptr);
    msg.append(": violates '").append(keyword).append("'");
    if (schema && schema->HasMember(keyword.c_str()))
      msg.append(" = ").append(compact((*schema)[keyword.c_str()]));
    if (doc_value) msg.append(", found ").append(compact(*doc_value));
    msg.append(rule);
    out.push_back(msg);
  }
  return out;
}

}  // namespace

std::string default_result_schema_path() { return BRICKBENCH_RESULT_SCHEMA_DIR "/result-v1.schema.json"; }

std::vector<std::string> validate_result_json(const std::string& json_text, const std::string& schema_path) {
  rapidjson::Document schema_doc;
  const std::string schema_text = read_text(schema_path, "the result schema");
  io::check_json_depth(schema_text, schema_path);
  schema_doc.Parse(schema_text.data(), schema_text.size());
  if (schema_doc.HasParseError()) {
    std::string msg = schema_path;
    msg.append(": not valid JSON at offset ")
        .append(std::to_string(schema_doc.GetErrorOffset()))
        .append(": ")
        .append(rapidjson::GetParseError_En(schema_doc.GetParseError()));
    throw std::runtime_error(msg);
  }
  if (!schema_doc.IsObject()) throw std::runtime_error(schema_path + ": a JSON Schema must be an object");
  const rapidjson::SchemaDocument schema(schema_doc);

  // The validator recurses once per level: a file nested deeper than any result is refused first.
  if (const size_t at = io::json_too_deep(json_text); at != std::string::npos)
    return {"JSON nested deeper than " + std::to_string(io::kMaxJsonDepth) + " levels at offset " +
            std::to_string(at) + "; no result file nests that deep"};
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(json_text.data(), json_text.size());
  if (doc.HasParseError()) {
    std::string msg = "not valid JSON at offset ";
    msg.append(std::to_string(doc.GetErrorOffset()))
        .append(": ")
        .append(rapidjson::GetParseError_En(doc.GetParseError()));
    return {msg};
  }

  rapidjson::SchemaValidator validator(schema);
  if (doc.Accept(validator)) return {};

  const rapidjson::Pointer doc_pointer = validator.GetInvalidDocumentPointer();
  const rapidjson::Pointer schema_pointer = validator.GetInvalidSchemaPointer();
  const char* keyword = validator.GetInvalidSchemaKeyword();
  return describe(pointer_text(doc_pointer), doc_pointer.Get(doc), schema_pointer_text(schema_pointer),
                  schema_pointer.Get(schema_doc), keyword ? keyword : "?");
}

}  // namespace bb::report
