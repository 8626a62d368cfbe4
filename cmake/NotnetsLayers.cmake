# notnets_layer(<target> <folder> EXPORT_NAME <name> SOURCES <file>... [PUBLIC_HEADERS <file>...])
#
# Adds one layer of the library: a static library built from src/<folder>/, exported as
# notnets::<name>, needing C++20 of whatever builds against it.
#
# A layer sees only its own headers and those of the layers it links, so that an include that
# runs upward fails to build. src/ as an include directory would show every folder to every
# layer; instead each layer gets two directories in the build tree of its own: internal/ with
# one link, <folder> -> src/<folder>, and public/notnets/ with links to the public headers the
# layer owns (PUBLIC_HEADERS, relative to include/notnets/). Both are usage requirements of the
# layer, so a layer that links another sees the other's headers (and passes them on only if it
# links it PUBLIC). Installed, every public header is in include/notnets/ and no internal one is.
function(notnets_layer target folder)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "EXPORT_NAME" "SOURCES;PUBLIC_HEADERS")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_EXPORT_NAME OR NOT arg_SOURCES)
    message(FATAL_ERROR "notnets_layer(${target}): needs EXPORT_NAME and SOURCES only")
  endif()
  set(root ${PROJECT_BINARY_DIR}/layers/${folder})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root}/internal ${root}/public/notnets)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${folder} ${root}/internal/${folder} SYMBOLIC)
  foreach(header IN LISTS arg_PUBLIC_HEADERS)
    get_filename_component(header_dir ${root}/public/notnets/${header} DIRECTORY)
    file(MAKE_DIRECTORY ${header_dir})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/notnets/${header}
      ${root}/public/notnets/${header} SYMBOLIC)
  endforeach()

  add_library(${target} STATIC ${arg_SOURCES})
  add_library(notnets::${arg_EXPORT_NAME} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${arg_EXPORT_NAME}
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${root}/public>
    $<BUILD_INTERFACE:${root}/internal>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  if(NOTNETS_FAULT_INJECTION)
    target_compile_definitions(${target} PRIVATE NOTNETS_FAULT_INJECTION)
  endif()
endfunction()
