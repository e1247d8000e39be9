# Run by the install_consumer test (cmake -P): install the build, check that the installed package
# is relocatable, then build and run a project that finds it with find_package(trainwreck) and
# LibTorch at another prefix than the build's.
foreach(var BUILD_DIR WORK_DIR SOURCE_DIR GENERATOR TORCH_ROOT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: ${var} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
string(REPLACE "|" ";" ARGS "${ARGS}")  # the configure arguments, |-separated
# TorchConfig.cmake takes its prefix from this variable when it is set: the test picks its own.
unset(ENV{TORCH_INSTALL_PREFIX})

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)

# The exported targets name their dependencies by imported target (torch, nlohmann_json::...)
# and their own files relative to the package: an absolute path there (the build machine's
# LibTorch or CUDA) would not exist, or be another version, where the package is used.
file(GLOB_RECURSE exported ${WORK_DIR}/prefix/*/trainwreckTargets*.cmake)
if(NOT exported)
  message(FATAL_ERROR "no trainwreckTargets*.cmake under ${WORK_DIR}/prefix")
endif()
foreach(file ${exported})
  file(STRINGS ${file} lines REGEX "^[^#]")
  foreach(line IN LISTS lines)
    # "/x or ;/x: a path that starts at the root, not at ${_IMPORT_PREFIX}.
    if(line MATCHES "[\";]/[^\";]+")
      message(FATAL_ERROR "${file} holds an absolute path (${CMAKE_MATCH_0}): the package is not "
                          "relocatable. The line: ${line}")
    endif()
  endforeach()
endforeach()

# LibTorch at another prefix: a link to the same files, so that whatever the consumer's build
# names under the build's LibTorch prefix came from the package, not from its own find_package.
get_filename_component(torch_real ${TORCH_ROOT} REALPATH)
set(moved ${WORK_DIR}/relocated/libtorch)
file(MAKE_DIRECTORY ${WORK_DIR}/relocated)
file(CREATE_LINK ${torch_real} ${moved} SYMBOLIC)

step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR} ${ARGS}
  -DTorch_DIR=${moved}/share/cmake/Torch)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
file(GLOB_RECURSE build_files
  ${WORK_DIR}/build/build.ninja ${WORK_DIR}/build/*/link.txt ${WORK_DIR}/build/*/flags.make)
foreach(file ${build_files})
  file(READ ${file} text)
  foreach(prefix ${TORCH_ROOT} ${torch_real})
    string(FIND "${text}" "${prefix}/" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "the consumer's ${file} names the build's LibTorch (${prefix}), not the one it "
                          "found at ${moved}")
    endif()
  endforeach()
endforeach()
step(${WORK_DIR}/build/guarded_training)
