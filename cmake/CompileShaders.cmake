# Compiles every shaders/*.comp to SPIR-V with glslangValidator, validates it with spirv-val,
# and embeds all of them into one generated C++ source, so the library never reads shader
# files at run time. Shared code lives in shaders/*.glsl and is pulled in with #include.
function(retnet_compile_shaders target shader_dir)
  file(GLOB shader_sources CONFIGURE_DEPENDS ${shader_dir}/*.comp)
  file(GLOB shader_includes CONFIGURE_DEPENDS ${shader_dir}/*.glsl)
  set(spv_dir ${CMAKE_CURRENT_BINARY_DIR}/spirv)
  file(MAKE_DIRECTORY ${spv_dir})
  set(spv_files "")
  foreach(src ${shader_sources})
    get_filename_component(name ${src} NAME_WE)
    set(spv ${spv_dir}/${name}.spv)
    add_custom_command(
      OUTPUT ${spv}
      COMMAND ${GLSLANG_VALIDATOR} --quiet -V --target-env vulkan1.1 -I${shader_dir} -o ${spv} ${src}
      COMMAND ${SPIRV_VAL} --target-env vulkan1.1 ${spv}
      DEPENDS ${src} ${shader_includes}
      COMMENT "Compiling shader ${name}.comp"
      VERBATIM)
    list(APPEND spv_files ${spv})
  endforeach()
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/generated/embedded_shaders.cpp)
  add_custom_command(
    OUTPUT ${generated}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${generated} "-DINPUTS=${spv_files}"
            -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSpirv.cmake
    DEPENDS ${spv_files} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSpirv.cmake
    COMMENT "Embedding SPIR-V"
    VERBATIM)
  add_library(${target} OBJECT ${generated})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
