// Files the HTML report inlines, compiled into bench at build time (tools/report-assets/embed.js
// generates their definitions from what `npm ci` installed; see tools/report-assets/README.md).
#pragma once

#include <string_view>

namespace bb::report::assets {

std::string_view chart_js();          // Chart.js's minified UMD build, license banner included
std::string_view chart_js_version();  // "4.5.1"

}  // namespace bb::report::assets
