// bb_plugin_probe: may this plugin run here? Plain C++ that needs no GPU and no CUDA runtime: it
// dlopens the driver (libcuda.so.1) and asks it directly, so a machine without a driver or a GPU
// gets a score of 0 and a reason, never a crash. The CUDA runtime is linked statically into the
// plugin and only touched once the host has accepted it.
#include <dlfcn.h>

#include <cstddef>
#include <cstdio>

#include "brickbench/brick_abi.h"

namespace {

// The driver API as declared in cuda.h (stable C ABI; the plugin does not include cuda.h here).
using CUresult = int;
using CUdevice = int;
using cuInit_fn = CUresult (*)(unsigned int);
using cuDriverGetVersion_fn = CUresult (*)(int*);
using cuDeviceGetCount_fn = CUresult (*)(int*);
using cuDeviceGet_fn = CUresult (*)(CUdevice*, int);
using cuDeviceGetAttribute_fn = CUresult (*)(int*, int, CUdevice);
constexpr int kAttrComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeCapabilityMinor = 76;

// The CUDA 13 runtime needs a driver that speaks CUDA 13.0 (r580+).
constexpr int kMinDriverVersion = 13000;

int32_t reject(const bb_probe_args* args, const char* fmt, int a = 0, int b = 0, int c = 0, int d = 0) {
  if (args != nullptr && args->struct_size >= sizeof(bb_probe_args) && args->reason != nullptr &&
      args->reason_capacity > 0) {
    std::snprintf(args->reason, args->reason_capacity, fmt, a, b, c, d);
  }
  return 0;
}

}  // namespace

extern "C" BB_EXPORT int32_t bb_plugin_probe(const bb_probe_args* args) {
  if (args != nullptr && args->struct_size >= offsetof(bb_probe_args, host_abi_minor) + sizeof(uint32_t) &&
      args->host_abi_major != BB_ABI_VERSION_MAJOR) {
    return reject(args, "cuda_bricks speaks ABI %d, the host %d", BB_ABI_VERSION_MAJOR,
                  static_cast<int>(args->host_abi_major));
  }
  // The library stays loaded once cuInit has run in this process (unloading an initialized driver
  // is not safe); when dlopen fails nothing was loaded.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr)
    return reject(args, "no NVIDIA driver: libcuda.so.1 cannot be loaded (no GPU driver installed)");
  auto init = reinterpret_cast<cuInit_fn>(dlsym(lib, "cuInit"));
  auto version = reinterpret_cast<cuDriverGetVersion_fn>(dlsym(lib, "cuDriverGetVersion"));
  auto count = reinterpret_cast<cuDeviceGetCount_fn>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<cuDeviceGet_fn>(dlsym(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<cuDeviceGetAttribute_fn>(dlsym(lib, "cuDeviceGetAttribute"));
  if (!init || !version || !count || !get || !attr) {
    dlclose(lib);
    return reject(args, "libcuda.so.1 lacks the driver API entry points (not an NVIDIA driver?)");
  }
  int driver = 0;
  if (version(&driver) != 0) return reject(args, "cuDriverGetVersion failed");
  if (driver < kMinDriverVersion) {
    return reject(
        args, "the NVIDIA driver supports CUDA %d.%d; this build needs CUDA %d.%d (driver r580 or newer)",
        driver / 1000, (driver % 1000) / 10, kMinDriverVersion / 1000, (kMinDriverVersion % 1000) / 10);
  }
  const CUresult init_rc = init(0);
  if (init_rc != 0)
    return reject(args,
                  "cuInit failed with CUresult %d: no usable GPU (driver loaded, device absent or busy)",
                  init_rc);
  int n = 0;
  if (count(&n) != 0 || n < 1) return reject(args, "no CUDA device found");
  for (int i = 0; i < n; ++i) {
    CUdevice dev = 0;
    int major = 0, minor = 0;
    if (get(&dev, i) != 0) continue;
    if (attr(&major, kAttrComputeCapabilityMajor, dev) != 0 ||
        attr(&minor, kAttrComputeCapabilityMinor, dev) != 0)
      continue;
    if (major == 9 && minor == 0) return 100;
  }
  CUdevice dev0 = 0;
  int major = 0, minor = 0;
  get(&dev0, 0);
  attr(&major, kAttrComputeCapabilityMajor, dev0);
  attr(&minor, kAttrComputeCapabilityMinor, dev0);
  return reject(
      args, "%d CUDA device(s), device 0 is sm_%d%d; this build carries sm_90a code only (Hopper H100/H200)",
      n, major, minor);
}
