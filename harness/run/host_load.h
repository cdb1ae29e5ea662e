// The interference sentinel (issue 17), CPU side: what else used the machine while each cell was
// measured, so a median taken beside a compiler or a busy neighbour says so.
//
// A reading is cumulative: the wall clock; the CPUs' busy time (user, nice, system, irq, softirq) and
// steal time from /proc/stat's first line, in ticks of USER_HZ (10 ms); and this run's own CPU time:
// this process (CLOCK_PROCESS_CPUTIME_ID, every thread) plus its live plugin hosts under --isolate
// (/proc/PID/stat). Between two readings, over a window of w seconds,
//   other cores     = (busy - own) / w        the mean number of cores other processes kept busy
//   steal fraction  = steal / (w x cpus)      the share of the machine the hypervisor took
// A cell's window runs from before its first slice of sampling to after its last (the scheduler
// interleaves cells, so other cells ran in it too: the window is the machine's state while this cell
// was being measured). The ticks make a window of under kInterferenceMinWindowS too coarse to judge.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result/run_result.h"

namespace bb::run {

inline constexpr double kInterferenceCores = 0.5;       // other processes' mean use at or above: flagged
inline constexpr double kInterferenceSteal = 0.10;      // steal at or above this fraction: flagged
inline constexpr double kInterferenceMinWindowS = 0.2;  // shorter windows are recorded, never flagged

// /proc/stat's aggregate "cpu" line and the per-CPU lines, in seconds. nullopt when `text` has no
// well-formed "cpu " line.
struct ProcStat {
  double busy_s = 0;   // user + nice + system + irq + softirq (guest time is inside user already)
  double steal_s = 0;  // 0 on kernels that do not report it
  int cpus = 0;        // "cpuN" lines
};
std::optional<ProcStat> parse_proc_stat(std::string_view text, double ticks_per_second);
// utime + stime of a /proc/PID/stat line, in seconds; nullopt when malformed (the command name in
// parentheses may itself hold spaces and parentheses).
std::optional<double> parse_pid_cpu_seconds(std::string_view text, double ticks_per_second);

struct HostReading {
  double wall_s = 0, busy_s = 0, steal_s = 0, own_s = 0;
  int cpus = 0;
};

// The reading of one cell's window (from, to). flagged per interfered().
report::Interference interference_between(const HostReading& from, const HostReading& to);
bool interfered(const report::Interference& i);

// Reads the machine. read() is nullopt where /proc/stat cannot be read (not Linux, a sandbox).
class HostLoad {
 public:
  HostLoad();
  std::optional<HostReading> read() const;

 private:
  double ticks_per_second_ = 100;
};

// "other processes used 1.8 of 2 cores (mean) while 23 of 32 cells were measured (marked '!' in the
// table): their medians may be slower than this machine's alone" or "" when no cell was flagged.
std::string interference_warning(const std::vector<report::Cell>& cells);

}  // namespace bb::run
