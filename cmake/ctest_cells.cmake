# Every matrix cell as its own CTest test:
#   ctest -L matrix          the whole matrix, one test per cell
#   ctest -L cuda            the GPU cells (the GPU regression suite)
#   ctest -L fault=lr_too_high, -L mitigation=adam, -L scenario=...   a slice of it
#   ctest -L matrix --output-junit cells.xml
# Each test runs `trainwreck run --device D --filter <cell id> ... --quiet` and passes when the
# cell's outcome is its pinned expectation (or none is pinned).
#
# The cells come from the scenario files, which change without a reconfigure, so they are listed
# when ctest runs: a TEST_INCLUDE_FILES script calls `trainwreck list --cells`.
#
#   trainwreck_add_cell_tests(<target or executable path>
#       [SCENARIOS <file or dir>]   default: ${CMAKE_CURRENT_SOURCE_DIR}/scenarios
#       [SELFTEST]                  the built-in self-test cells (trainwreck selftest) instead
#       [OUT_DIR <dir>]             default: ${CMAKE_CURRENT_BINARY_DIR}/cells-ctest; one folder per cell
#       [PREFIX <text>]             test name prefix, default "cell:" (cell:lr_too_high/none/cpu)
#       [EXTRA_ARGS <flag>...])     more flags for every run (e.g. --timeout 60)
#
# Device classes, chosen when ctest runs: the environment variable TRAINWRECK_CTEST_DEVICES
# ("cpu", "cuda" or "cpu;cuda"); unset, cpu always and cuda when the probe finds a GPU. CUDA cells
# on a machine without one would all be "unsupported", so they are not registered there.
# But when CUDA is asked for (ctest -L REGEX matching "cuda", or TRAINWRECK_CTEST_DEVICES naming
# cuda) and the probe finds no GPU, a test "<prefix>cuda-no-gpu" labelled cuda is registered that
# fails: a GPU runner that lost its GPU does not pass with "no tests found". Plain ctest on a
# machine without a GPU does not ask for CUDA and is not affected.

if(TRAINWRECK_CELLS_DISCOVERING)
  # ---- at ctest time, included from the generated script --------------------------------------
  # Whether ctest's label selection (-L REGEX or --label-regex REGEX) takes the label "cuda".
  # CTest does not tell its scripts its arguments, so they are read from /proc (Linux).
  function(_tw_cuda_label_asked out)
    set(asked OFF)
    if(EXISTS /proc/self/cmdline)
      file(READ /proc/self/cmdline hex HEX)
      string(REGEX MATCHALL ".." bytes "${hex}")
      set(prev "")
      set(arg "")
      foreach(b IN LISTS bytes)
        if(NOT b STREQUAL "00")
          math(EXPR code "0x${b}")
          string(ASCII ${code} ch)
          string(APPEND arg "${ch}")
          continue()
        endif()
        set(regex "")
        set(has_regex OFF)
        if(prev STREQUAL "-L" OR prev STREQUAL "--label-regex")
          set(regex "${arg}")
          set(has_regex ON)
        endif()
        if(has_regex AND "cuda" MATCHES "${regex}")
          set(asked ON)
        endif()
        set(prev "${arg}")
        set(arg "")
      endforeach()
    endif()
    set(${out} ${asked} PARENT_SCOPE)
  endfunction()
  set(_tw_devices "$ENV{TRAINWRECK_CTEST_DEVICES}")
  set(_tw_cuda_asked OFF)
  if("cuda" IN_LIST _tw_devices)
    set(_tw_cuda_asked ON)
  elseif(_tw_devices STREQUAL "")
    _tw_cuda_label_asked(_tw_cuda_asked)
  endif()
  set(_tw_list_device all)
  if(_tw_devices STREQUAL "cpu")
    set(_tw_list_device cpu)  # no probe needed
  endif()
  set(_tw_list_args list --cells --device ${_tw_list_device})
  if(TRAINWRECK_CELLS_SELFTEST)
    list(APPEND _tw_list_args --selftest)
  else()
    list(APPEND _tw_list_args --scenarios "${TRAINWRECK_CELLS_SCENARIOS}")
  endif()
  set(_tw_rc 1)
  set(_tw_err "")
  if(EXISTS "${TRAINWRECK_CELLS_EXE}")
    execute_process(COMMAND "${TRAINWRECK_CELLS_EXE}" ${_tw_list_args}
      OUTPUT_VARIABLE _tw_out ERROR_VARIABLE _tw_err RESULT_VARIABLE _tw_rc TIMEOUT 300)
  else()
    set(_tw_err "${TRAINWRECK_CELLS_EXE} does not exist (not built yet?)")
  endif()
  if(NOT _tw_rc EQUAL 0)
    # A visible failing test instead of a matrix that silently has no cells.
    string(STRIP "${_tw_err}" _tw_err)
    add_test("${TRAINWRECK_CELLS_PREFIX}listing-failed" "${TRAINWRECK_CELLS_CMAKE}" -E echo
      "trainwreck list --cells failed (${_tw_rc}): ${_tw_err}")
    set(_tw_labels "matrix;cpu")
    if(_tw_cuda_asked)
      list(APPEND _tw_labels cuda)
    endif()
    set_tests_properties("${TRAINWRECK_CELLS_PREFIX}listing-failed" PROPERTIES
      LABELS "${_tw_labels}" WILL_FAIL TRUE)
    return()
  endif()

  set(_tw_gpus 0)
  string(REPLACE "\n" ";" _tw_lines "${_tw_out}")
  foreach(_tw_line IN LISTS _tw_lines)
    if(_tw_line MATCHES "^# capabilities gpus=([0-9]+)")
      set(_tw_gpus "${CMAKE_MATCH_1}")
      continue()
    endif()
    if(_tw_line STREQUAL "" OR _tw_line MATCHES "^#")
      continue()
    endif()

    # id, scenario, fault, mitigation, device, wall_seconds, expected, unsupported reason
    string(REPLACE "\t" ";" _tw_f "${_tw_line}")
    list(GET _tw_f 0 _tw_id)
    list(GET _tw_f 1 _tw_scenario)
    list(GET _tw_f 2 _tw_fault)
    list(GET _tw_f 3 _tw_mitigation)
    list(GET _tw_f 4 _tw_device)
    list(GET _tw_f 5 _tw_wall)
    if(_tw_devices STREQUAL "")
      if(_tw_device STREQUAL "cuda" AND _tw_gpus EQUAL 0)
        continue()
      endif()
    elseif(NOT _tw_device IN_LIST _tw_devices)
      continue()
    endif()
    string(REPLACE "/" "." _tw_stem "${_tw_id}")
    set(_tw_name "${TRAINWRECK_CELLS_PREFIX}${_tw_id}")
    if(TRAINWRECK_CELLS_SELFTEST)
      set(_tw_cmd selftest)
    else()
      set(_tw_cmd run --scenarios "${TRAINWRECK_CELLS_SCENARIOS}")
    endif()
    # Cell ids are [a-z0-9_-] and '/', so the glob of --filter matches exactly this cell.
    add_test("${_tw_name}" "${TRAINWRECK_CELLS_EXE}" ${_tw_cmd} --device "${_tw_device}" "--filter=${_tw_id}"
      --out "${TRAINWRECK_CELLS_OUT_DIR}/${_tw_stem}" --jobs 1 --quiet ${TRAINWRECK_CELLS_EXTRA_ARGS})
    # The cell's own wall limit, plus start-up and the probe.
    math(EXPR _tw_timeout "${_tw_wall} + 120")
    set_tests_properties("${_tw_name}" PROPERTIES
      LABELS "matrix;${_tw_device};fault=${_tw_fault};mitigation=${_tw_mitigation};scenario=${_tw_scenario}"
      TIMEOUT ${_tw_timeout})
    if(_tw_device STREQUAL "cuda")
      # One GPU cell at a time: memory budgets and timings assume the device to themselves.
      set_tests_properties("${_tw_name}" PROPERTIES RESOURCE_LOCK trainwreck_cuda_device)
    endif()
    list(LENGTH _tw_f _tw_fields)
    if(_tw_fields GREATER 8)
      list(GET _tw_f 8 _tw_exclusive)
      if(_tw_exclusive STREQUAL "exclusive")
        # limits.exclusive: nothing else runs beside it, under ctest -j as under trainwreck run.
        set_tests_properties("${_tw_name}" PROPERTIES RUN_SERIAL TRUE)
      endif()
    endif()
  endforeach()
  if(_tw_cuda_asked AND _tw_gpus EQUAL 0)
    # echo succeeds and WILL_FAIL turns that into the failure, with the message in the log.
    set(_tw_name "${TRAINWRECK_CELLS_PREFIX}cuda-no-gpu")
    add_test("${_tw_name}" "${TRAINWRECK_CELLS_CMAKE}" -E echo
      "CUDA cells were asked for (ctest -L cuda or TRAINWRECK_CTEST_DEVICES) but the probe found no GPU: a GPU runner without its GPU must not pass. Without a GPU, run ctest -LE cuda or set TRAINWRECK_CTEST_DEVICES=cpu.")
    set_tests_properties("${_tw_name}" PROPERTIES LABELS "cuda" WILL_FAIL TRUE)
  endif()
  return()
endif()

# ---- at configure time --------------------------------------------------------------------------
set(_TRAINWRECK_CTEST_CELLS_FILE "${CMAKE_CURRENT_LIST_FILE}")

function(trainwreck_add_cell_tests executable)
  cmake_parse_arguments(ARG "SELFTEST" "SCENARIOS;OUT_DIR;PREFIX" "EXTRA_ARGS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "trainwreck_add_cell_tests: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SCENARIOS)
    set(ARG_SCENARIOS "${CMAKE_CURRENT_SOURCE_DIR}/scenarios")
  endif()
  if(NOT ARG_OUT_DIR)
    set(ARG_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/cells-ctest")
  endif()
  if(NOT DEFINED ARG_PREFIX)
    set(ARG_PREFIX "cell:")
  endif()
  if(TARGET ${executable})
    set(exe "$<TARGET_FILE:${executable}>")
  else()
    set(exe "${executable}")
  endif()
  set(selftest OFF)
  if(ARG_SELFTEST)
    set(selftest ON)
  endif()
  string(MAKE_C_IDENTIFIER "${ARG_PREFIX}${executable}" id)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${id}_ctest_cells.cmake")
  file(GENERATE OUTPUT "${script}" CONTENT
"# ctest reads this without the project's policies: set them for the listing script.
cmake_policy(PUSH)
cmake_policy(VERSION 3.18)
set(TRAINWRECK_CELLS_DISCOVERING ON)
set(TRAINWRECK_CELLS_EXE [==[${exe}]==])
set(TRAINWRECK_CELLS_SCENARIOS [==[${ARG_SCENARIOS}]==])
set(TRAINWRECK_CELLS_SELFTEST ${selftest})
set(TRAINWRECK_CELLS_OUT_DIR [==[${ARG_OUT_DIR}]==])
set(TRAINWRECK_CELLS_PREFIX [==[${ARG_PREFIX}]==])
set(TRAINWRECK_CELLS_EXTRA_ARGS [==[${ARG_EXTRA_ARGS}]==])
set(TRAINWRECK_CELLS_CMAKE [==[${CMAKE_COMMAND}]==])
include([==[${_TRAINWRECK_CTEST_CELLS_FILE}]==])
set(TRAINWRECK_CELLS_DISCOVERING OFF)
cmake_policy(POP)
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()

# Labels for tests that gtest_discover_tests registers, whose PROPERTIES go to every test of a
# binary: set when ctest runs, after discovery (so this call must come after the
# gtest_discover_tests call). Test names that do not exist are ignored.
#   trainwreck_set_test_labels(LABELS harness browser TESTS HtmlBrowser.SelftestReport)
function(trainwreck_set_test_labels)
  cmake_parse_arguments(ARG "" "" "LABELS;TESTS" ${ARGN})
  if(NOT ARG_LABELS OR NOT ARG_TESTS OR ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "trainwreck_set_test_labels(LABELS <label>... TESTS <test>...)")
  endif()
  set(names "")
  foreach(t IN LISTS ARG_TESTS)
    string(APPEND names " [==[${t}]==]")
  endforeach()
  string(MAKE_C_IDENTIFIER "${ARG_TESTS}" id)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/labels_${id}.cmake")
  file(WRITE "${script}" "set_tests_properties(${names} PROPERTIES LABELS [==[${ARG_LABELS}]==])\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()
