#include "run/environment.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace bb::run {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  return "";
}

std::string simd_flags() {
  std::istringstream flags(cpuinfo_field("flags"));
  static const std::set<std::string> wanted = {"sse4_2",      "avx",         "avx2",     "fma",
                                               "f16c",        "avx512f",     "avx512bw", "avx512vl",
                                               "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile"};
  std::string out, f;
  while (flags >> f)
    if (wanted.count(f)) out += (out.empty() ? "" : " ") + f;
  return out;
}

std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      auto v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  return "unknown";
}

std::string memory_mib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemTotal:") return std::to_string(kb / 1024);
  return "unknown";
}

std::string gpus() {
  if (::access("/usr/bin/nvidia-smi", X_OK) != 0 && ::access("/usr/local/bin/nvidia-smi", X_OK) != 0)
    return "none";
  FILE* p = ::popen(
      "nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem "
      "--format=csv,noheader 2>/dev/null",
      "r");
  if (!p) return "unknown";
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (auto& c : out)
    if (c == '\n') c = ';';
  return out.empty() ? "none" : out;
}

}  // namespace

report::KeyValues collect_environment() {
  report::KeyValues kv;
  kv.emplace_back("cpu_model", cpuinfo_field("model name"));
  kv.emplace_back("cpu_cores", std::to_string(std::thread::hardware_concurrency()));
  kv.emplace_back("cpu_simd", simd_flags());
  std::string gov = first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  kv.emplace_back("cpu_governor", gov.empty() ? "unknown (no cpufreq)" : gov);
  kv.emplace_back("memory_total_mib", memory_mib());
  kv.emplace_back("os", os_name());
  struct utsname u {};
  if (::uname(&u) == 0) {
    kv.emplace_back("kernel", std::string(u.sysname) + " " + u.release + " " + u.machine);
    kv.emplace_back("hostname", u.nodename);
  }
#if defined(__clang__)
  kv.emplace_back("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  kv.emplace_back("compiler", std::string("gcc ") + __VERSION__);
#endif
  kv.emplace_back("gpus", gpus());
  return kv;
}

std::string utc_now_iso8601() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace bb::run
