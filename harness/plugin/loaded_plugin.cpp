#include "plugin/loaded_plugin.h"

namespace bb::plugin {

bool LoadedPlugin::supports(int32_t op, int32_t weight_type) const {
  for (const bb_capability& cap : info().capabilities) {
    if (cap.op != op) continue;
    if (cap.weight_type == weight_type || cap.weight_type == BB_TYPE_ANY || weight_type == BB_TYPE_ANY)
      return true;
  }
  return false;
}

}  // namespace bb::plugin
