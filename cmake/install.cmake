# `cmake --install <build> --prefix <p>` and find_package(octet) for C++ users.
#
# Installs the libraries (static, as the build makes them) under the exported target set octet::
# (octet::ops, octet::proto, octet::io, octet::framework, octet::qat, octet::runtime,
# octet::distributed, and octet::dnnl for oneDNN), the `octet` command line, the public headers at
# their source paths (include/framework/nn/layers.h, ...) with the generated include/proto/*.pb.h,
# and lib/cmake/octet/octetConfig.cmake + octetConfigVersion.cmake.
#
# The targets are declared in CMakeLists.txt with absolute build paths (the source tree as include
# directory, build/gen for the generated protobuf headers, the found libdnnl), which CMake refuses
# or must not write into an installed package. Rather than change those lines, this file rewraps
# the properties after the fact: each include directory inside the source or build tree becomes
# $<BUILD_INTERFACE:...> with one $<INSTALL_INTERFACE:include>, and octet_dnnl keeps its found
# paths for the build only; the package config finds oneDNN again on the user's machine.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(OCTET_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/octet)
set(OCTET_INSTALL_LIBRARIES)
foreach(target octet_ops octet_proto octet_io octet_framework octet_qat octet_runtime
        octet_distributed)
  if(TARGET ${target})
    list(APPEND OCTET_INSTALL_LIBRARIES ${target})
  endif()
endforeach()
set(OCTET_INSTALL_DISTRIBUTED OFF)
if(TARGET octet_distributed)
  set(OCTET_INSTALL_DISTRIBUTED ON)
endif()

# A path inside the source or build tree (both are absolute, and the build tree may sit inside
# the source tree, so checking either prefix catches both).
function(octet_is_tree_path path out)
  set(${out} FALSE PARENT_SCOPE)
  foreach(root ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
    string(FIND "${path}/" "${root}/" at)
    if(at EQUAL 0)
      set(${out} TRUE PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

# INTERFACE_INCLUDE_DIRECTORIES of `target` with tree paths wrapped for the build only, plus the
# installed include/ when any was found. Generator expressions already there are kept as they are.
function(octet_relocate_includes target)
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT dirs)
    return()
  endif()
  set(relocated)
  set(any_tree FALSE)
  foreach(dir IN LISTS dirs)
    octet_is_tree_path("${dir}" in_tree)
    if(in_tree AND NOT dir MATCHES "^\\$<")
      list(APPEND relocated "$<BUILD_INTERFACE:${dir}>")
      set(any_tree TRUE)
    else()
      list(APPEND relocated "${dir}")
    endif()
  endforeach()
  if(any_tree)
    list(APPEND relocated "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  endif()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${relocated}")
endfunction()

foreach(target ${OCTET_INSTALL_LIBRARIES})
  octet_relocate_includes(${target})
  # octet::framework rather than octet::octet_framework.
  string(REPLACE "octet_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
# Users' code includes the C++20 headers, so the requirement travels with the targets.
target_compile_features(octet_ops PUBLIC cxx_std_20)

# oneDNN: exported as octet::dnnl with the found library and headers for the build only; the
# package config fills in the ones it finds where the package is used.
set_target_properties(octet_dnnl PROPERTIES
  EXPORT_NAME dnnl
  INTERFACE_LINK_LIBRARIES "$<BUILD_INTERFACE:${DNNL_LIBRARY}>"
  INTERFACE_INCLUDE_DIRECTORIES "$<BUILD_INTERFACE:${OCTET_DNNL_INCLUDE_DIRS}>"
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "$<BUILD_INTERFACE:${OCTET_DNNL_INCLUDE_DIRS}>")

install(TARGETS ${OCTET_INSTALL_LIBRARIES} octet_dnnl EXPORT octetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET octet)
  install(TARGETS octet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# Headers keep their paths ("framework/nn/layers.h"), as the sources include them.
foreach(floor ops framework qat runtime distributed)
  if(IS_DIRECTORY ${CMAKE_SOURCE_DIR}/${floor})
    install(DIRECTORY ${CMAKE_SOURCE_DIR}/${floor} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
            FILES_MATCHING PATTERN "*.h")
  endif()
endforeach()
install(DIRECTORY ${CMAKE_BINARY_DIR}/gen/proto DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.pb.h")

install(EXPORT octetTargets NAMESPACE octet:: FILE octetTargets.cmake
        DESTINATION ${OCTET_INSTALL_CMAKEDIR})

# The config template lives here (this file is the whole install feature); @ONLY substitution.
get_filename_component(OCTET_DNNL_LIBRARY_HINT ${DNNL_LIBRARY} DIRECTORY)
set(OCTET_DNNL_INCLUDE_HINT ${DNNL_INCLUDE_DIR})
file(WRITE ${CMAKE_BINARY_DIR}/cmake/octetConfig.cmake.in [=[
# find_package(octet): the octet:: targets and what they link.
@PACKAGE_INIT@

include(CMakeFindDependencyMacro)
find_dependency(OpenMP)
find_dependency(Protobuf)
find_dependency(ZLIB)
if(@OCTET_WITH_CUDA@)
  find_dependency(CUDAToolkit)  # octet::ops links cudart and cuBLASLt
endif()
if(@OCTET_INSTALL_DISTRIBUTED@)
  find_dependency(MPI COMPONENTS CXX)
endif()

# oneDNN is found by library and header, as octet's own build does (Debian's dnnl-config.cmake
# insists on OpenCL); the hints are where the build found it.
find_library(OCTET_DNNL_LIBRARY NAMES dnnl HINTS "@OCTET_DNNL_LIBRARY_HINT@")
find_path(OCTET_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp HINTS "@OCTET_DNNL_INCLUDE_HINT@")
if(NOT OCTET_DNNL_LIBRARY OR NOT OCTET_DNNL_INCLUDE_DIR)
  set(octet_FOUND FALSE)
  set(octet_NOT_FOUND_MESSAGE
      "octet needs oneDNN: libdnnl or oneapi/dnnl/dnnl.hpp not found (set CMAKE_PREFIX_PATH)")
  return()
endif()

include("${CMAKE_CURRENT_LIST_DIR}/octetTargets.cmake")
set_target_properties(octet::dnnl PROPERTIES
  INTERFACE_LINK_LIBRARIES "${OCTET_DNNL_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${OCTET_DNNL_INCLUDE_DIR}")
check_required_components(octet)
]=])
configure_package_config_file(${CMAKE_BINARY_DIR}/cmake/octetConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/octetConfig.cmake
                              INSTALL_DESTINATION ${OCTET_INSTALL_CMAKEDIR})
# project(octet) names no version yet; 0.1.0 until it does.
set(OCTET_PACKAGE_VERSION 0.1.0)
if(PROJECT_VERSION)
  set(OCTET_PACKAGE_VERSION ${PROJECT_VERSION})
endif()
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/octetConfigVersion.cmake
                                 VERSION ${OCTET_PACKAGE_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/octetConfig.cmake
        ${CMAKE_BINARY_DIR}/cmake/octetConfigVersion.cmake DESTINATION ${OCTET_INSTALL_CMAKEDIR})

# ---- test: install into a scratch prefix, then build and run a consumer against it -------------
add_test(NAME install_consumer
         COMMAND ${CMAKE_COMMAND} -DOCTET_BUILD_DIR=${CMAKE_BINARY_DIR}
                 -DOCTET_SOURCE_DIR=${CMAKE_SOURCE_DIR}
                 -DWORK_DIR=${CMAKE_BINARY_DIR}/install_consumer
                 -DCXX_COMPILER=${CMAKE_CXX_COMPILER} -DGENERATOR=${CMAKE_GENERATOR}
                 -P ${CMAKE_SOURCE_DIR}/tests/install/run_consumer.cmake)
set_tests_properties(install_consumer PROPERTIES LABELS e2e TIMEOUT 300)
