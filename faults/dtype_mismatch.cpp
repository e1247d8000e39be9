// The data arrives as float64 (or int64) while the model's weights are float32: the first
// forward pass fails inside LibTorch's matmul with a dtype error.
#include "backend/registry.h"

namespace tw {
namespace {
struct DtypeMismatch : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.input_dtype = parse_choice<InputDtype>(param_str(p, "dtype", "float64"));
    r.data.cast_inputs = false;
    r.data.int_scale = param(p, "int_scale", 100);
  }
};
}  // namespace
TW_REGISTER_FAULT(
    DtypeMismatch,
    {"dtype_mismatch",
     "inputs in float64 or int64 fed to a float32 model",
     "data",
     {{"dtype", ParamSpec::Type::kString, 0, 0, false, {"float64", "int64"}, "dtype the inputs arrive in"},
      {"int_scale", ParamSpec::Type::kNumber, 0, 1e9, true, {}, "int64: the integers count 1/int_scale of a unit"}}});
}  // namespace tw
