#include "run/host_load.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "plugin/isolated_channel.h"
#include "run/text.h"

namespace bb::run {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double own_process_cpu() {
  timespec ts{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text, double ticks_per_second) {
  std::optional<ProcStat> out;
  int cpus = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.rfind("cpu", 0) != 0) continue;
    if (line.size() > 3 && line[3] >= '0' && line[3] <= '9') {
      ++cpus;
      continue;
    }
    if (line.size() < 4 || line[3] != ' ' || out) continue;
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    std::istringstream in(line.substr(4));
    double f[8] = {};
    int n = 0;
    while (n < 8 && (in >> f[n])) ++n;
    if (n < 4) return std::nullopt;  // user nice system idle are always there
    ProcStat s;
    s.busy_s = (f[0] + f[1] + f[2] + f[5] + f[6]) / ticks_per_second;
    s.steal_s = f[7] / ticks_per_second;
    out = s;
  }
  if (out) out->cpus = cpus;
  return out;
}

std::optional<double> parse_pid_cpu_seconds(std::string_view text, double ticks_per_second) {
  // pid (comm) state ppid ... : utime and stime are fields 14 and 15, the 12th and 13th after ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::istringstream in{std::string(text.substr(close + 1))};
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 1; i <= 13; ++i) {
    if (!(in >> field)) return std::nullopt;
    if (i == 12 || i == 13) {
      char* end = nullptr;
      const double v = std::strtod(field.c_str(), &end);
      if (end == field.c_str() || *end != '\0') return std::nullopt;
      (i == 12 ? utime : stime) = v;
    }
  }
  return (utime + stime) / ticks_per_second;
}

report::Interference interference_between(const HostReading& from, const HostReading& to) {
  report::Interference i;
  i.window_s = std::max(0.0, to.wall_s - from.wall_s);
  i.cpus = to.cpus;
  if (i.window_s > 0) {
    i.other_cores = std::max(0.0, ((to.busy_s - from.busy_s) - (to.own_s - from.own_s)) / i.window_s);
    if (i.cpus > 0) i.steal_fraction = std::max(0.0, (to.steal_s - from.steal_s) / (i.window_s * i.cpus));
  }
  i.flagged = interfered(i);
  return i;
}

bool interfered(const report::Interference& i) {
  return i.window_s >= kInterferenceMinWindowS &&
         (i.other_cores >= kInterferenceCores || i.steal_fraction >= kInterferenceSteal);
}

HostLoad::HostLoad() {
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz > 0) ticks_per_second_ = static_cast<double>(hz);
}

std::optional<HostReading> HostLoad::read() const {
  const auto text = slurp("/proc/stat");
  if (!text) return std::nullopt;
  const auto stat = parse_proc_stat(*text, ticks_per_second_);
  if (!stat) return std::nullopt;
  HostReading r;
  r.wall_s = wall_now();
  r.busy_s = stat->busy_s;
  r.steal_s = stat->steal_s;
  r.cpus = stat->cpus;
  r.own_s = own_process_cpu();
  for (pid_t pid : plugin::live_plugin_host_pids())
    if (const auto t = slurp("/proc/" + std::to_string(pid) + "/stat"))
      r.own_s += parse_pid_cpu_seconds(*t, ticks_per_second_).value_or(0);
  return r;
}

std::string interference_warning(const std::vector<report::Cell>& cells) {
  int read = 0, flagged = 0, cpus = 0;
  double other_sum = 0;
  for (const auto& c : cells) {
    if (!c.interference) continue;
    ++read;
    if (!c.interference->flagged) continue;
    ++flagged;
    other_sum += c.interference->other_cores;
    cpus = std::max(cpus, c.interference->cpus);
  }
  if (flagged == 0) return "";
  return "other processes used " + printf_number("%.1f", other_sum / flagged) + " of " +
         std::to_string(cpus) + " cores (mean) while " + std::to_string(flagged) + " of " +
         std::to_string(read) +
         " cells were measured (marked '!' in the table): their medians may be slower than this machine "
         "gives alone; run again on a quiet machine before trusting them";
}

}  // namespace bb::run
