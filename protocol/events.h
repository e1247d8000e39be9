#pragma once
// The event protocol between a cell and the harness: one JSON object per line, whose "event" is
// an EventType word. An error event's "kind" is an ErrorKind, a symptom's a SymptomKind, a guard's
// "action" a GuardAction. The words are written and read here only (harness/event_writer.h is
// the cell's writer, parse_event_type the harness's reader); no LibTorch, no I/O.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

namespace tw {

// start: what the run is (device, model, batch); step: one optimizer step (loss, memory,
// gradient norms); eval: an evaluation (eval_loss); evidence: facts the verdict or a reader
// uses; guard: a remedy acted (warn, skip, stop); symptom: the fault showed (a non-finite loss);
// error: the run ended on an error; end: the run reached its horizon; probe: the environment
// probe's answer (not a cell).
enum class EventType { kStart, kStep, kEval, kEvidence, kGuard, kSymptom, kError, kEnd, kProbe };

// exception: the run raised; oom: an allocation failed (LibTorch's out-of-memory error, a
// scripted module's, the host's bad_alloc); unsupported: the cell cannot run here (no GPU, no
// NCCL); abort: a rank terminated (std::terminate in a distributed loop).
enum class ErrorKind { kException, kOom, kUnsupported, kAbort };

enum class SymptomKind { kNonfinite };  // the loss was NaN or Inf

enum class GuardAction { kWarn, kSkip, kStop };

const char* to_string(EventType type);
const char* to_string(ErrorKind kind);
const char* to_string(SymptomKind kind);
const char* to_string(GuardAction action);

std::optional<EventType> parse_event_type(std::string_view word);
std::optional<ErrorKind> parse_error_kind(std::string_view word);
std::optional<SymptomKind> parse_symptom_kind(std::string_view word);
std::optional<GuardAction> parse_guard_action(std::string_view word);

// An event line's type; nullopt when it is not an object with a known "event" word.
std::optional<EventType> event_type_of(const nlohmann::json& event);
// True when `event` is of `type` and, for a distributed cell, from rank 0 (no "rank" is rank 0).
bool is_rank0_event(const nlohmann::json& event, EventType type);

}  // namespace tw
