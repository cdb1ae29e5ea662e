// bb_plugin_probe of both builds. This file is compiled WITHOUT -mavx* flags (CMake builds it as its
// own object library) and uses nothing but CPUID, XGETBV and C library calls, so it runs on any
// x86-64 CPU. It must not call C++ inline functions or templates either: the linker could pick an
// AVX-512 copy of such a function from another translation unit of the same plugin.
//
// AVX_BRICKS_PROBE_LEVEL: 2 = the AVX2+FMA+F16C build, 3 = the AVX-512 F/BW/VL/VNNI build.
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brickbench/brick_abi.h"

#ifndef AVX_BRICKS_PROBE_LEVEL
#error "AVX_BRICKS_PROBE_LEVEL must be 2 (avx2) or 3 (avx512)"
#endif

namespace {

enum Level { kNone = 0, kAvx2 = 2, kAvx512 = 3 };

struct CpuView {
  int level;          // the best level this CPU and OS can run
  char missing[256];  // what stops the next level up, in words
};

// XGETBV(0) as raw bytes: the intrinsic needs -mxsave, which this file must not be built with.
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

void append(char* buf, size_t cap, const char* what) {
  size_t len = strlen(buf);
  if (len + 2 >= cap) return;
  snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", what);
}

CpuView detect() {
  CpuView v;
  v.level = kNone;
  v.missing[0] = '\0';
  unsigned int a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) {
    snprintf(v.missing, sizeof v.missing, "CPUID leaf 0 unavailable");
    return v;
  }
  const unsigned int max_leaf = a;
  __cpuid(1, a, b, c, d);
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  bool avx2 = false, avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    avx2 = (b >> 5) & 1;
    avx512f = (b >> 16) & 1;
    avx512bw = (b >> 30) & 1;
    avx512vl = (b >> 31) & 1;
    avx512vnni = (c >> 11) & 1;
  }
  const unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state saved by the OS
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!osxsave) append(v.missing, sizeof v.missing, "OSXSAVE (the OS does not enable XSAVE)");
  if (!avx) append(v.missing, sizeof v.missing, "AVX");
  if (!avx2) append(v.missing, sizeof v.missing, "AVX2");
  if (!fma) append(v.missing, sizeof v.missing, "FMA");
  if (!f16c) append(v.missing, sizeof v.missing, "F16C");
  if (osxsave && !os_ymm) append(v.missing, sizeof v.missing, "OS-enabled YMM state (XCR0 bits 1-2)");
  if (v.missing[0] != '\0') return v;
  v.level = kAvx2;
  if (!avx512f) append(v.missing, sizeof v.missing, "AVX512F");
  if (!avx512bw) append(v.missing, sizeof v.missing, "AVX512BW");
  if (!avx512vl) append(v.missing, sizeof v.missing, "AVX512VL");
  if (!avx512vnni) append(v.missing, sizeof v.missing, "AVX512_VNNI");
  if (!os_zmm) append(v.missing, sizeof v.missing, "OS-enabled ZMM/opmask state (XCR0 bits 5-7)");
  if (v.missing[0] == '\0') v.level = kAvx512;
  return v;
}

void write_reason(const bb_probe_args* args, const char* text) {
  if (args == nullptr || args->struct_size < sizeof(bb_probe_args) || args->reason == nullptr ||
      args->reason_capacity == 0)
    return;
  snprintf(args->reason, args->reason_capacity, "%s", text);
}

}  // namespace

// What this CPU and OS offer, in words, for the build facts (not exported; plain C, no vector code).
extern "C" __attribute__((visibility("hidden"))) const char* avx_bricks_detected_isa(void) {
  static char text[320];
  const CpuView cpu = detect();
  snprintf(text, sizeof text, "%s%s%s (CPUID + XGETBV)",
           cpu.level == kAvx512 ? "avx512f+bw+vl+vnni"
           : cpu.level == kAvx2 ? "avx2+fma+f16c"
                                : "no avx2",
           cpu.missing[0] ? "; lacks " : "", cpu.missing);
  return text;
}

extern "C" BB_EXPORT int32_t bb_plugin_probe(const bb_probe_args* args) {
#if AVX_BRICKS_PROBE_LEVEL == 3
  const char* const build = "avx_bricks_avx512 (AVX-512 F/BW/VL/VNNI)";
  const int32_t score = 200;
#else
  const char* const build = "avx_bricks_avx2 (AVX2+FMA+F16C)";
  const int32_t score = 100;
#endif
  char reason[512];
  if (args != nullptr && args->struct_size >= 16 && args->host_abi_major != BB_ABI_VERSION_MAJOR) {
    snprintf(reason, sizeof reason, "%s speaks plugin ABI %d, the host %u", build, BB_ABI_VERSION_MAJOR,
             args->host_abi_major);
    write_reason(args, reason);
    return 0;
  }
  CpuView cpu = detect();
  // Tests simulate a smaller machine: BRICKBENCH_AVX_PROBE_MAX=avx2 hides AVX-512, =none hides both.
  const char* cap = getenv("BRICKBENCH_AVX_PROBE_MAX");
  if (cap != nullptr && cap[0] != '\0') {
    int cap_level = -1;
    if (strcmp(cap, "none") == 0)
      cap_level = kNone;
    else if (strcmp(cap, "avx2") == 0)
      cap_level = kAvx2;
    else if (strcmp(cap, "avx512") == 0)
      cap_level = kAvx512;
    if (cap_level < 0) {
      snprintf(reason, sizeof reason, "%s: BRICKBENCH_AVX_PROBE_MAX='%s' is not one of none, avx2, avx512",
               build, cap);
      write_reason(args, reason);
      return 0;
    }
    if (cap_level < cpu.level) {
      cpu.level = cap_level;
      snprintf(cpu.missing, sizeof cpu.missing, "%s (forced by BRICKBENCH_AVX_PROBE_MAX=%s)",
               cap_level == kNone ? "AVX2 and AVX-512" : "AVX-512", cap);
    }
  }
  if (cpu.level < AVX_BRICKS_PROBE_LEVEL) {
    snprintf(reason, sizeof reason, "%s cannot run here: this CPU/OS lacks %s", build, cpu.missing);
    write_reason(args, reason);
    return 0;
  }
  return score;
}
