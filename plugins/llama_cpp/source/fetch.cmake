# Unpacks llama.cpp's release source from the npm package node-llama-cpp (pinned by package-lock.json
# next to this file) into SRC_DIR: `npm ci` into NPM_DIR, then a git clone of the package's
# llama/gitRelease.bundle. Run once per build tree by the llama_cpp_ext ExternalProject's download step
#   cmake -DNPM=... -DGIT=... -DPIN=plugins/llama_cpp/source -DNPM_DIR=... -DSRC_DIR=... -P fetch.cmake
# and again only when the pin (package.json / package-lock.json) changes.
file(MAKE_DIRECTORY ${NPM_DIR})
file(COPY_FILE ${PIN}/package.json ${NPM_DIR}/package.json ONLY_IF_DIFFERENT)
file(COPY_FILE ${PIN}/package-lock.json ${NPM_DIR}/package-lock.json ONLY_IF_DIFFERENT)
# --omit=optional: the prebuilt binaries are not wanted (llama.cpp is built from the bundled source);
# --ignore-scripts: node-llama-cpp's postinstall would try to download or build its own binaries.
execute_process(COMMAND ${NPM} ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error
                WORKING_DIRECTORY ${NPM_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "llama_cpp: `npm ci` in ${NPM_DIR} failed (exit ${rc}). The llama_cpp plugin builds "
          "llama.cpp from the source that the npm package node-llama-cpp ships (pinned by "
          "plugins/llama_cpp/source/package-lock.json): give this machine access to registry.npmjs.org (or an "
          "npm mirror / a populated ~/.npm cache), or configure with -DBRICKBENCH_LLAMA_CPP=OFF.")
endif()
set(bundle ${NPM_DIR}/node_modules/node-llama-cpp/llama/gitRelease.bundle)
if(NOT EXISTS ${bundle})
  message(FATAL_ERROR "llama_cpp: ${bundle} is missing: the pinned node-llama-cpp no longer ships llama.cpp's "
          "source as a git bundle (plugins/llama_cpp/source/package.json)")
endif()
file(REMOVE_RECURSE ${SRC_DIR})
execute_process(COMMAND ${GIT} -c advice.detachedHead=false clone -q ${bundle} ${SRC_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "llama_cpp: git clone of ${bundle} failed (exit ${rc})")
endif()
execute_process(COMMAND ${GIT} -C ${SRC_DIR} log -1 --format=%h OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${GIT} -C ${SRC_DIR} log -1 --format=%cs OUTPUT_VARIABLE date OUTPUT_STRIP_TRAILING_WHITESPACE)
file(READ ${NPM_DIR}/node_modules/node-llama-cpp/package.json pkg)
string(JSON npm_version GET "${pkg}" version)
message(STATUS "llama_cpp: llama.cpp ${commit} (${date}) from node-llama-cpp ${npm_version}")
