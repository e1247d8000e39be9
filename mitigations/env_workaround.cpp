// A vendor's documented workaround that is an environment variable (NCCL_PXN_DISABLE=1, ...),
// set in the run's environment before anything reads it, as a job script exports it.
#include <cstdlib>
#include <stdexcept>

#include "backend/registry.h"

namespace tw {
namespace {
struct EnvWorkaround : Mitigation {
  void apply(Recipe&, const nlohmann::json& p) const override {
    const std::string assignment = param_str(p, "set", "");
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) throw std::invalid_argument("env_workaround: 'set' must be NAME=VALUE");
    setenv(assignment.substr(0, eq).c_str(), assignment.substr(eq + 1).c_str(), /*overwrite=*/1);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(EnvWorkaround,
                       {"env_workaround",
                        "set a vendor's workaround environment variable in the run",
                        "framework / environment",
                        {{"set", ParamSpec::Type::kString, 0, 0, false, {}, "NAME=VALUE"}},
                        {},
                        1,
                        [](const nlohmann::json& p) -> std::optional<RecipeProblem> {
                          const std::string set = p.value("set", "");
                          if (set.empty()) return RecipeProblem{"set", "is required (NAME=VALUE)"};
                          if (set.find('=') == std::string::npos || set.front() == '=')
                            return RecipeProblem{"set", "must be NAME=VALUE (got '" + set + "')"};
                          return std::nullopt;
                        }});
}  // namespace tw
