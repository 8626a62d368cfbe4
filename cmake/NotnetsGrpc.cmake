# notnets_grpc_generate(TARGET <target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...])
#
# Runs protoc with the C++, grpc_cpp_plugin and protoc-gen-notnets generators on each proto,
# into ${CMAKE_CURRENT_BINARY_DIR}/notnets_generated, and builds the results into <target>:
# its sources get foo.pb.cc, foo.grpc.pb.cc and foo.notnets.pb.cc, its include directories the
# output directory (so "foo.grpc.pb.h" is found), and it links notnets::grpc, gRPC::grpc++ and
# protobuf::libprotobuf (notnets::grpc brings the C++20 the generated code needs). Relative paths
# are taken from the current source directory. find_package(notnets) defines it too, when the
# package holds the gRPC integration.
#
# Each proto is compiled with its own directory first on the proto path, so it is known to
# protoc (and to its generated code) by its bare file name; protos that import one another must
# do so by bare file name too, their directories given as IMPORT_DIRS. A proto may be generated
# by only one call per directory, since the outputs of two calls would collide.
#
# The generated code goes into <target> itself, not into a library of its own, because
# foo.notnets.pb.cc only holds static registrations that nothing refers to: a linker pulling
# objects out of a static library would leave it out, and the services would silently never
# reach the memory pool. For the same reason <target> must not be a static library.
function(notnets_grpc_generate)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "TARGET" "PROTOS;IMPORT_DIRS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "notnets_grpc_generate: unexpected arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_TARGET OR NOT arg_PROTOS)
    message(FATAL_ERROR "notnets_grpc_generate: TARGET and PROTOS are required")
  endif()
  get_target_property(target_type ${arg_TARGET} TYPE)
  if(target_type STREQUAL "STATIC_LIBRARY")
    message(FATAL_ERROR "notnets_grpc_generate: ${arg_TARGET} is a static library, from which "
      "the linker would drop the service registrations; use an executable, a shared library "
      "or an object library")
  endif()

  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/notnets_generated)
  file(MAKE_DIRECTORY ${out_dir})
  set(import_flags "")
  foreach(dir IN LISTS arg_IMPORT_DIRS)
    get_filename_component(abs_dir ${dir} ABSOLUTE)
    list(APPEND import_flags --proto_path=${abs_dir})
  endforeach()

  foreach(proto IN LISTS arg_PROTOS)
    get_filename_component(abs_proto ${proto} ABSOLUTE)
    get_filename_component(proto_dir ${abs_proto} DIRECTORY)
    get_filename_component(name ${abs_proto} NAME_WLE)
    set(sources
      ${out_dir}/${name}.pb.cc
      ${out_dir}/${name}.grpc.pb.cc
      ${out_dir}/${name}.notnets.pb.cc)
    add_custom_command(
      OUTPUT ${sources} ${out_dir}/${name}.pb.h ${out_dir}/${name}.grpc.pb.h
      COMMAND protobuf::protoc
        --proto_path=${proto_dir} ${import_flags}
        --cpp_out=${out_dir}
        --grpc_out=${out_dir}
        --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
        --notnets_out=${out_dir}
        --plugin=protoc-gen-notnets=$<TARGET_FILE:notnets::protoc-gen-notnets>
        ${abs_proto}
      DEPENDS ${abs_proto} protobuf::protoc gRPC::grpc_cpp_plugin notnets::protoc-gen-notnets
      COMMENT "Generating protobuf, gRPC and notnets code for ${proto}"
      VERBATIM)
    target_sources(${arg_TARGET} PRIVATE ${sources})
  endforeach()

  target_include_directories(${arg_TARGET} PUBLIC ${out_dir})
  target_link_libraries(${arg_TARGET} PUBLIC notnets::grpc gRPC::grpc++ protobuf::libprotobuf)
endfunction()
