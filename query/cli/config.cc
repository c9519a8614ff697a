#include "query/cli/config.h"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "nlohmann/json.hpp"

namespace fieldlog::cli {

std::string ConfigPath() {
  if (const char* path = std::getenv("FIELDLOG_CONFIG")) return path;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME")) {
    return std::string(xdg) + "/fieldlog/config.json";
  }
  if (const char* home = std::getenv("HOME"))
    return std::string(home) + "/.config/fieldlog/config.json";
  return "";
}

bool LoadConfigFile(GlobalOptions* options) {
  const std::string path = ConfigPath();
  if (path.empty()) return true;
  std::ifstream in(path);
  if (!in) return true;  // no config file: fine
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    std::cerr << "fieldlog: " << path << " is not a JSON object\n";
    return false;
  }
  const auto take = [&](const char* key, std::string* field) {
    if (auto it = config.find(key); it != config.end()) {
      if (!it->is_string()) {
        std::cerr << "fieldlog: " << path << ": \"" << key << "\" must be a string\n";
        return false;
      }
      *field = it->get<std::string>();
    }
    return true;
  };
  return take("server", &options->server) && take("token", &options->token) &&
         take("tls_ca", &options->tls_ca) && take("tls_cert", &options->tls_cert) &&
         take("tls_key", &options->tls_key) && take("output", &options->output);
}

}  // namespace fieldlog::cli
