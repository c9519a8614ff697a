# agent_bench (benchmarks/agent_bench.cc): Log() latency next to spdlog's
# async logger, and one agent end to end. Included from benchmarks/.
find_package(spdlog CONFIG REQUIRED)
add_executable(agent_bench ${PROJECT_SOURCE_DIR}/benchmarks/agent_bench.cc)
target_include_directories(agent_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(agent_bench PRIVATE
  fieldlog::agent fieldlog_proto fieldlog_bench_corpus benchmark::benchmark spdlog::spdlog
  gRPC::grpc++ ZLIB::ZLIB)
# The end-to-end run starts the server next to it.
add_dependencies(agent_bench fieldlog-server)
