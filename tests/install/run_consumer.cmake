# ctest install_consumer: what a C++ user does with octet, end to end.
#   1. cmake --install the build tree into a scratch prefix
#   2. check the installed package files name no path of the source or build tree
#   3. configure tests/install/consumer with CMAKE_PREFIX_PATH=<prefix>, build it, run it
# Run as: cmake -DOCTET_BUILD_DIR=... -DOCTET_SOURCE_DIR=... -DWORK_DIR=... [-DCXX_COMPILER=...]
#         [-DGENERATOR=...] -P run_consumer.cmake
foreach(var OCTET_BUILD_DIR OCTET_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

# One step: the command, its output shown only when it fails.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "install_consumer: ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

run_step("cmake --install" ${CMAKE_COMMAND} --install ${OCTET_BUILD_DIR} --prefix ${prefix})

# The exported targets and config must be relocatable: no path into the trees they came from.
file(GLOB_RECURSE package_files ${prefix}/lib*/cmake/octet/*.cmake)
if(NOT package_files)
  message(FATAL_ERROR "install_consumer: no lib/cmake/octet/*.cmake under ${prefix}")
endif()
foreach(file ${package_files})
  file(READ ${file} text)
  foreach(tree ${OCTET_SOURCE_DIR} ${OCTET_BUILD_DIR})
    string(FIND "${text}" "${tree}/" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "install_consumer: ${file} names a path inside ${tree}")
    endif()
  endforeach()
endforeach()

set(configure_args -S ${OCTET_SOURCE_DIR}/tests/install/consumer -B ${consumer_build}
                   -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
if(CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(GENERATOR)
  list(APPEND configure_args -G ${GENERATOR})
endif()
run_step("configure the consumer" ${CMAKE_COMMAND} ${configure_args})
run_step("build the consumer" ${CMAKE_COMMAND} --build ${consumer_build})
run_step("run the consumer" ${consumer_build}/octet_consumer)
message(STATUS "install_consumer: ${step_output}")
