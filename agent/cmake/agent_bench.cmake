# agent_bench (benchmarks/agent_bench.cc): Log() latency next to spdlog's
# async logger, and one agent end to end. Included from benchmarks/.
find_package(spdlog CONFIG REQUIRED)
add_executable(agent_bench ${PROJECT_SOURCE_DIR}/benchmarks/agent_bench.cc)
target_link_libraries(agent_bench PRIVATE
  fieldlog::agent fieldlog_proto benchmark::benchmark spdlog::spdlog gRPC::grpc++)
# The end-to-end run starts the server next to it.
add_dependencies(agent_bench fieldlog-server)
