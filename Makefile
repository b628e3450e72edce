# Service Insight — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?=
DAYS ?=
GEN_ARGS := $(if $(SCALE),--scale $(SCALE)) $(if $(DAYS),--days $(DAYS))
# Test processes: tests sharing a built warehouse run in one of them (tests/conftest.py groups them).
TEST_WORKERS ?= 2

.PHONY: install run materialize generate serve test test-fast test-faults test-distributed cluster-up cluster-down scale-deps bench docs clean browser-deps voice

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	# uv under pip's configuration (service_insight/fast_install.py says why); pip where uv cannot run.
	# torch==2.13.0 is pinned in pyproject.toml; the CPU build comes from the local wheel folder.
	$(PYTHON) service_insight/fast_install.py $(VENV) '.[dev,voice]' || \
	  { $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[dev,voice]'; }
	$(BIN)/python -c "from orchestration.dbt_project import parse_dbt_project; parse_dbt_project()"
	@touch $(STAMP)

generate: install
	$(BIN)/service-insight generate $(GEN_ARGS)

materialize: generate
	$(BIN)/service-insight materialize

docs: install
	$(BIN)/service-insight docs

serve: install
	$(BIN)/service-insight serve

# Install, generate the sample, publish the core marts, serve dashboards, Dagster UI and dbt docs, and
# build the models while they are open (a data folder that already has a snapshot is served at once).
run: generate
	$(BIN)/service-insight run

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { echo "installing Debian chromium + chromium-driver for the browser tests"; \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null \
	    || echo "could not install chromium; browser tests will be skipped"; }

# The Chinese voice of the virtual agent, converted once to ONNX into .voices/zh-baker (TensorFlow 2.15 lives
# only in the converter environment .voice-build/, kept as a cache; about a minute and 400 MB).
voice: install
	$(BIN)/python -m ml.zh_voice build

test: install browser-deps
	HF_HUB_OFFLINE=1 $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

# A local two-node Ray cluster (head + one worker node, RAY_CPUS logical CPUs each) for SI_EXECUTOR=ray, and a
# Spark master + worker + Thrift SQL server for the dbt target `spark` (ports SI_SPARK_MASTER_PORT,
# SI_SPARK_THRIFT_PORT); pid files and logs under $SI_DATA_DIR/cluster. `make cluster-down` stops exactly these.
RAY_NODES ?= 2
RAY_CPUS ?= 2
RAY_PORT ?= 6379
scale-deps: install
	@$(BIN)/python -c "import ray, pyspark, dbt.adapters.spark" 2>/dev/null || \
	  $(BIN)/pip install --quiet -e '.[dev,voice,scale,spark]'

cluster-up: scale-deps
	$(BIN)/service-insight cluster up --nodes $(RAY_NODES) --cpus-per-node $(RAY_CPUS) --port $(RAY_PORT)

cluster-down: install
	$(BIN)/service-insight cluster down

# The distributed tests against the cluster above: scoring on two Ray nodes equals scoring here, and the marts
# built on Spark equal the marts built on DuckDB.
test-distributed: cluster-up
	HF_HUB_OFFLINE=1 SI_RAY_ADDRESS=127.0.0.1:$(RAY_PORT) $(BIN)/pytest -m distributed -p no:cacheprovider; \
	  code=$$?; $(BIN)/service-insight cluster down; exit $$code

# Only the reliability tests: hostile landing files, a materialization SIGKILLed at two points and
# re-run, full and read-only disks; the warehouse must be as one good run leaves it (about 6 minutes).
test-faults: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m faults

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m "not browser and not slow"

bench: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/service-insight bench

clean:
	rm -rf data dbt/target dbt/logs
