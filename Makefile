# The two commands of the README's quick start:
#   make run    install what is missing, build, start fieldlog-server
#   make test   install what is missing, build, run the whole test suite
BUILD_DIR  ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
DATA_DIR   ?= ./fieldlog-data
LISTEN     ?= 127.0.0.1:4317

.PHONY: all deps configure build run test clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > $(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/bin/fieldlog-server --data-dir $(DATA_DIR) --grpc-listen $(LISTEN)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
