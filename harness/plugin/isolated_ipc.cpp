// Framing, tensor transport and file references of the isolated-plugin wire (isolated_ipc.h).
#include "plugin/isolated_ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <new>
#include <sstream>

#include "plugin/loaded_plugin.h"

namespace bb::plugin::ipc {
namespace {

bool send_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool recv_all(int fd, void* data, size_t n) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// A read-only, file-backed region of this process (/proc/self/maps).
struct FileRegion {
  uintptr_t begin = 0, end = 0;
  uint64_t file_offset = 0;
  std::string path;
};

std::vector<FileRegion> read_file_regions() {
  std::vector<FileRegion> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // begin-end perms offset dev inode path
    std::istringstream in(line);
    std::string range, perms, dev, path;
    uint64_t offset = 0, inode = 0;
    in >> range >> perms >> std::hex >> offset >> dev >> std::dec >> inode;
    std::getline(in >> std::ws, path);
    // Only read-only file mappings hold the file's own bytes (a written private page would not).
    if (inode == 0 || path.empty() || path[0] != '/' || perms.size() < 2 || perms[0] != 'r' ||
        perms[1] != '-')
      continue;
    if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) continue;
    FileRegion r;
    r.begin = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    r.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    r.file_offset = offset;
    r.path = path;
    out.push_back(std::move(r));
  }
  return out;
}

// The file region holding [p, p + n), re-reading the maps when the cached list has none (a model
// mapped since the last look).
bool find_file_region(const void* p, uint64_t n, FileRegion& found) {
  static std::mutex mutex;
  static std::vector<FileRegion> regions;
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mutex);
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& r : regions) {
      if (a >= r.begin && a < r.end && n <= r.end - a) {
        found = r;
        return true;
      }
    }
    if (pass == 0) regions = read_file_regions();
  }
  return false;
}

}  // namespace

bool send_frame(int fd, const std::vector<uint8_t>& payload) {
  if (payload.size() > kMaxFrame) return false;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  return send_all(fd, &n, sizeof n) && send_all(fd, payload.data(), payload.size());
}

bool recv_frame(int fd, std::vector<uint8_t>& payload) {
  uint32_t n = 0;
  if (!recv_all(fd, &n, sizeof n) || n > kMaxFrame) return false;
  payload.resize(n);
  return recv_all(fd, payload.data(), n);
}

void write_tensor(Writer& w, const bb_tensor& t, bool with_data, bool allow_file_ref) {
  w.pod<int32_t>(t.device_type);
  w.pod<int32_t>(t.device_id);
  w.pod<int32_t>(t.ndim);
  w.pod<int32_t>(t.type);
  for (int i = 0; i < BB_MAX_DIMS; ++i) w.pod<int64_t>(t.shape[i]);
  for (int i = 0; i < BB_MAX_DIMS; ++i) w.pod<int64_t>(t.strides[i]);
  w.pod<uint64_t>(t.nbytes);
  w.pod<uint8_t>(t.name ? 1 : 0);
  if (t.name) w.cstr(t.name);
  if (!with_data || !t.data) {
    w.pod(DataForm::None);
    return;
  }
  FileRegion region;
  if (allow_file_ref && t.nbytes > 0 && find_file_region(t.data, t.nbytes, region)) {
    w.pod(DataForm::FileRef);
    w.str(region.path);
    w.pod<uint64_t>(region.file_offset + (reinterpret_cast<uintptr_t>(t.data) - region.begin));
    return;
  }
  w.pod(DataForm::Inline);
  w.blob(t.data, t.nbytes);
}

FileMappings::~FileMappings() {
  for (auto& [path, m] : maps_)
    if (m.base) ::munmap(const_cast<uint8_t*>(m.base), m.size);
}

const uint8_t* FileMappings::resolve(const std::string& path, uint64_t offset, uint64_t nbytes) {
  auto it = maps_.find(path);
  if (it == maps_.end()) {
    Mapping m;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ProtocolError("plugin host: cannot open " + path + " to map weights");
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        m.base = static_cast<const uint8_t*>(p);
        m.size = static_cast<uint64_t>(st.st_size);
      }
    }
    ::close(fd);
    if (!m.base) throw ProtocolError("plugin host: cannot map " + path);
    it = maps_.emplace(path, m).first;
  }
  const Mapping& m = it->second;
  if (offset > m.size || nbytes > m.size - offset)
    throw ProtocolError("plugin host: weights at " + std::to_string(offset) + " + " + std::to_string(nbytes) +
                        " lie outside " + path + " (the file changed since the run mapped it?)");
  return m.base + offset;
}

AlignedBytes::AlignedBytes(size_t n)
    : p_(static_cast<uint8_t*>(std::aligned_alloc(64, (std::max<size_t>(n, 1) + 63) / 64 * 64))) {
  if (!p_) throw std::bad_alloc();
}

void AlignedBytes::Free::operator()(uint8_t* p) const { std::free(p); }

void TensorStore::read(Reader& r, size_t n, FileMappings& files) {
  tensors.assign(n, bb_tensor{});
  names.assign(n, std::string());
  for (size_t i = 0; i < n; ++i) {
    bb_tensor& t = tensors[i];
    t.struct_size = sizeof(bb_tensor);
    t.device_type = r.pod<int32_t>();
    t.device_id = r.pod<int32_t>();
    t.ndim = r.pod<int32_t>();
    t.type = r.pod<int32_t>();
    for (int d = 0; d < BB_MAX_DIMS; ++d) t.shape[d] = r.pod<int64_t>();
    for (int d = 0; d < BB_MAX_DIMS; ++d) t.strides[d] = r.pod<int64_t>();
    t.nbytes = r.pod<uint64_t>();
    const bool has_name = r.pod<uint8_t>() != 0;
    if (has_name) names[i] = r.str();
    switch (r.pod<DataForm>()) {
      case DataForm::None:
        t.data = nullptr;
        break;
      case DataForm::Inline: {
        auto [p, size] = r.blob();
        if (size != t.nbytes)
          throw ProtocolError("plugin host protocol: tensor data size differs from nbytes");
        owned.emplace_back(size);
        if (size) std::memcpy(owned.back().data(), p, size);
        t.data = owned.back().data();
        break;
      }
      case DataForm::FileRef: {
        std::string path = r.str();
        const uint64_t offset = r.pod<uint64_t>();
        t.data = const_cast<uint8_t*>(files.resolve(path, offset, t.nbytes));
        break;
      }
      default:
        throw ProtocolError("plugin host protocol: unknown tensor data form");
    }
  }
  // Names last: `names` no longer grows, so the pointers stay put.
  for (size_t i = 0; i < n; ++i) tensors[i].name = names[i].empty() ? nullptr : names[i].c_str();
}

void write_plugin_info(Writer& w, const PluginInfo& info) {
  w.pod<uint8_t>(info.usable ? 1 : 0);
  w.str(info.rejection);
  w.str(info.name);
  w.str(info.version);
  w.str(info.description);
  w.pod<uint32_t>(info.abi_major);
  w.pod<uint32_t>(info.abi_minor);
  w.pod<int32_t>(info.probe_score);
  w.pod<uint8_t>(info.has_probe ? 1 : 0);
  w.str(info.probe_reason);
  w.pod<uint64_t>(info.capabilities.size());
  for (const auto& c : info.capabilities) {
    w.pod<int32_t>(c.op);
    w.pod<int32_t>(c.weight_type);
    w.pod<uint32_t>(c.flags);
  }
  w.pod<uint64_t>(info.build_info.size());
  for (const auto& [k, v] : info.build_info) {
    w.str(k);
    w.str(v);
  }
}

void read_plugin_info(Reader& r, PluginInfo& info) {
  info.usable = r.pod<uint8_t>() != 0;
  info.rejection = r.str();
  info.name = r.str();
  info.version = r.str();
  info.description = r.str();
  info.abi_major = r.pod<uint32_t>();
  info.abi_minor = r.pod<uint32_t>();
  info.probe_score = r.pod<int32_t>();
  info.has_probe = r.pod<uint8_t>() != 0;
  info.probe_reason = r.str();
  const uint64_t n_caps = r.pod<uint64_t>();
  if (n_caps > (1u << 16)) throw ProtocolError("plugin host protocol: too many capabilities");
  info.capabilities.clear();
  for (uint64_t i = 0; i < n_caps; ++i) {
    bb_capability c{sizeof(bb_capability), 0, 0, 0};
    c.op = r.pod<int32_t>();
    c.weight_type = r.pod<int32_t>();
    c.flags = r.pod<uint32_t>();
    info.capabilities.push_back(c);
  }
  const uint64_t n_kv = r.pod<uint64_t>();
  if (n_kv > (1u << 16)) throw ProtocolError("plugin host protocol: too much build info");
  info.build_info.clear();
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string k = r.str();
    info.build_info.emplace_back(std::move(k), r.str());
  }
}

}  // namespace bb::plugin::ipc
