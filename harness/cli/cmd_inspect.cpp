// bench inspect: a GGUF file's header, metadata, Qwen2 description and (optionally) tensors.
#include <boost/program_options.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/ggml_types.h"
#include "model/gguf.h"
#include "model/qwen2_model.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

const char* value_type_label(model::GgufValueType t) {
  static const char* const kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string ne_text(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  po::options_description opts("options");
  // clang-format off
  opts.add_options()
      ("help,h", "print this help")
      ("tensors", "list every tensor: name, type, ne, offset, bytes")
      ("file", po::value<std::string>(), "the GGUF file");
  // clang-format on
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "bench inspect: %s (see bench inspect --help)\n", e.what());
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::ostringstream o;
    o << opts;
    std::printf(
        "usage: bench inspect FILE [--tensors]\n\nPrints a GGUF file's version, metadata (long arrays\n"
        "abbreviated), the Qwen2 model description and, with --tensors, every tensor.\n\n%s\n",
        o.str().c_str());
    return kExitOk;
  }
  if (!vm.count("file")) {
    std::fprintf(stderr, "bench inspect: a GGUF file is required (usage: bench inspect FILE [--tensors])\n");
    return kExitUsage;
  }

  std::shared_ptr<model::GgufFile> file;
  try {
    file = model::GgufFile::open(vm["file"].as<std::string>());
  } catch (const model::GgufError& e) {
    std::fprintf(stderr, "bench inspect: %s\n", e.what());
    return kExitUsage;
  }

  std::printf("file      %s\n", model::printable(file->path()).c_str());
  std::printf("size      %llu bytes (%.1f MiB)\n", static_cast<unsigned long long>(file->file_size()),
              static_cast<double>(file->file_size()) / (1024.0 * 1024.0));
  std::printf("version   GGUF v%u, alignment %llu\n", file->version(),
              static_cast<unsigned long long>(file->alignment()));
  std::printf("\nmetadata (%zu keys):\n", file->metadata().size());
  for (const auto& [key, value] : file->metadata()) {
    std::string type = value_type_label(value.type);
    if (value.type == model::GgufValueType::ARRAY && value.array)
      type += std::string("<") + value_type_label(value.array->element_type) + ">";
    std::printf("  %-44s %-14s %s\n", model::printable(key).c_str(), type.c_str(),
                model::printable(value.to_string(6)).c_str());
  }

  int rc = kExitOk;
  std::printf("\n");
  auto arch = file->get_string_opt("general.architecture");
  if (arch == "qwen2") {
    try {
      std::printf("%s", model::load_qwen2(file).describe().c_str());
    } catch (const model::GgufError& e) {
      std::printf("not a usable Qwen2 model: %s\n", e.what());
      rc = kExitUsage;  // an input error, as `bench generate` and `bench run` call the same file
    }
  } else {
    std::printf("model: architecture '%s' is not qwen2; no model description\n",
                model::printable(arch.value_or("(none)")).c_str());
  }

  if (vm.count("tensors")) {
    std::printf("\ntensors (%zu; offsets relative to the data section):\n", file->tensors().size());
    std::printf("  %-36s %-6s %-20s %14s %14s\n", "name", "type", "ne", "offset", "bytes");
    for (const auto& t : file->tensors())
      std::printf("  %-36s %-6s %-20s %14llu %14llu\n", model::printable(t.name).c_str(),
                  model::ggml_type_name(t.type).c_str(), ne_text(t.ne).c_str(),
                  static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.nbytes));
  }
  return rc;
}

}  // namespace bb::cli
