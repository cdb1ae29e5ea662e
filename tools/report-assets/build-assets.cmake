# Installs the report's charting library with `npm ci` (exact versions from package-lock.json) into the
# build tree and embeds it as a C++ source. Run by the build as
#   cmake -DNPM=... -DNODE=... -DSRC=tools/report-assets -DDIR=<build>/report-assets -DOUT=... -P build-assets.cmake
# Fails the build, with what to do, when the registry (or a populated npm cache) is unreachable.
file(MAKE_DIRECTORY ${DIR})
file(COPY_FILE ${SRC}/package.json ${DIR}/package.json ONLY_IF_DIFFERENT)
file(COPY_FILE ${SRC}/package-lock.json ${DIR}/package-lock.json ONLY_IF_DIFFERENT)
execute_process(COMMAND ${NPM} ci --no-audit --no-fund --ignore-scripts --loglevel=error
                WORKING_DIRECTORY ${DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "report assets: `npm ci` in ${DIR} failed (exit ${rc}). `bench report` inlines Chart.js "
          "from the npm registry (pinned by tools/report-assets/package-lock.json): give this machine access to "
          "registry.npmjs.org (or an npm mirror / a populated ~/.npm cache) and build again.")
endif()
execute_process(COMMAND ${NODE} ${SRC}/embed.js ${DIR}/node_modules/chart.js ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "report assets: embedding Chart.js failed (exit ${rc})")
endif()
