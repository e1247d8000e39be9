#include "protocol/events.h"

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace tw {
namespace {

template <typename E, std::size_t N>
using Words = std::array<std::pair<E, const char*>, N>;

constexpr Words<EventType, 9> kEventWords = {{{EventType::kStart, "start"},
                                              {EventType::kStep, "step"},
                                              {EventType::kEval, "eval"},
                                              {EventType::kEvidence, "evidence"},
                                              {EventType::kGuard, "guard"},
                                              {EventType::kSymptom, "symptom"},
                                              {EventType::kError, "error"},
                                              {EventType::kEnd, "end"},
                                              {EventType::kProbe, "probe"}}};
constexpr Words<ErrorKind, 4> kErrorWords = {{{ErrorKind::kException, "exception"},
                                              {ErrorKind::kOom, "oom"},
                                              {ErrorKind::kUnsupported, "unsupported"},
                                              {ErrorKind::kAbort, "abort"}}};
constexpr Words<SymptomKind, 1> kSymptomWords = {{{SymptomKind::kNonfinite, "nonfinite"}}};
constexpr Words<GuardAction, 3> kGuardWords = {
    {{GuardAction::kWarn, "warn"}, {GuardAction::kSkip, "skip"}, {GuardAction::kStop, "stop"}}};

template <typename E, std::size_t N>
const char* word_of(E value, const Words<E, N>& words) {
  for (const auto& [v, w] : words)
    if (v == value) return w;
  return words[0].second;
}

template <typename E, std::size_t N>
std::optional<E> value_of(std::string_view word, const Words<E, N>& words) {
  for (const auto& [v, w] : words)
    if (word == w) return v;
  return std::nullopt;
}

}  // namespace

const char* to_string(EventType type) { return word_of(type, kEventWords); }
const char* to_string(ErrorKind kind) { return word_of(kind, kErrorWords); }
const char* to_string(SymptomKind kind) { return word_of(kind, kSymptomWords); }
const char* to_string(GuardAction action) { return word_of(action, kGuardWords); }

std::optional<EventType> parse_event_type(std::string_view word) { return value_of(word, kEventWords); }
std::optional<ErrorKind> parse_error_kind(std::string_view word) { return value_of(word, kErrorWords); }
std::optional<SymptomKind> parse_symptom_kind(std::string_view word) { return value_of(word, kSymptomWords); }
std::optional<GuardAction> parse_guard_action(std::string_view word) { return value_of(word, kGuardWords); }

std::optional<EventType> event_type_of(const nlohmann::json& event) {
  if (!event.is_object()) return std::nullopt;
  const auto it = event.find("event");
  if (it == event.end() || !it->is_string()) return std::nullopt;
  return parse_event_type(it->get_ref<const std::string&>());
}

bool is_rank0_event(const nlohmann::json& event, EventType type) {
  return event_type_of(event) == type && event.value("rank", 0) == 0;
}

}  // namespace tw
