# Examples of the public API, run as tests (label "example"), and an install test that builds one
# against the installed package (label "install").
include(${CMAKE_CURRENT_LIST_DIR}/guards_library.cmake)

add_executable(guarded_training ${trainwreck_SOURCE_DIR}/examples/guarded_training.cpp)
target_link_libraries(guarded_training PRIVATE trainwreck::guards)
trainwreck_torch_runtime_paths(guarded_training)
# Exits non-zero unless the non-finite guard stopped the run at the step the loss went bad and
# the rollback policy recovered it.
add_test(NAME example_guarded_training COMMAND guarded_training)
set_tests_properties(example_guarded_training PROPERTIES LABELS "example" TIMEOUT 120)

# cmake --install into a scratch prefix, check that the exported targets hold no absolute path,
# then configure, build and run examples/consumer with find_package(trainwreck) and LibTorch
# reached through another prefix (install_test.cmake sets its Torch_DIR).
set(TRAINWRECK_CONSUMER_DIR ${CMAKE_CURRENT_BINARY_DIR}/install-test)
set(TRAINWRECK_CONSUMER_ARGS
  -DCMAKE_PREFIX_PATH=${TRAINWRECK_CONSUMER_DIR}/prefix
  -Dnlohmann_json_DIR=${nlohmann_json_DIR}
  -DCMAKE_BUILD_TYPE=Release)
if(CMAKE_CXX_COMPILER_LAUNCHER)
  list(APPEND TRAINWRECK_CONSUMER_ARGS -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER})
endif()
string(REPLACE ";" "|" TRAINWRECK_CONSUMER_ARGS "${TRAINWRECK_CONSUMER_ARGS}")
add_test(NAME install_consumer
  COMMAND ${CMAKE_COMMAND}
    -DBUILD_DIR=${CMAKE_BINARY_DIR}
    -DWORK_DIR=${TRAINWRECK_CONSUMER_DIR}
    -DSOURCE_DIR=${trainwreck_SOURCE_DIR}/examples/consumer
    -DGENERATOR=${CMAKE_GENERATOR}
    -DTORCH_ROOT=${TORCH_INSTALL_PREFIX}
    -DARGS=${TRAINWRECK_CONSUMER_ARGS}
    -P ${trainwreck_SOURCE_DIR}/cmake/install_test.cmake)
set_tests_properties(install_consumer PROPERTIES LABELS "install" TIMEOUT 600 RUN_SERIAL TRUE)

# A team's own TorchScript model (examples/own_model), made with the Python torch setup installs,
# through `trainwreck run`; skipped (77) where no Python can import torch.
add_test(NAME example_own_model
  COMMAND ${trainwreck_SOURCE_DIR}/tests/own_model_test.sh $<TARGET_FILE:trainwreck> ${trainwreck_SOURCE_DIR}
    ${CMAKE_CURRENT_BINARY_DIR}/own-model-test)
set_tests_properties(example_own_model PROPERTIES LABELS "example;cpu" TIMEOUT 600 SKIP_RETURN_CODE 77)
