// The web console's files (query/web/), compiled into the binary so that
// fieldlog-server serves the console with no extra step or install.
#ifndef FIELDLOG_QUERY_WEB_ASSETS_H_
#define FIELDLOG_QUERY_WEB_ASSETS_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace fieldlog::query {

struct WebAsset {
  absl::string_view path;  // e.g. "index.html"
  absl::string_view content_type;
  absl::string_view content;
};

const std::vector<WebAsset>& WebAssets();

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_WEB_ASSETS_H_
