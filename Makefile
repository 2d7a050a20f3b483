# Common tasks. `make test` is the test command (README and .ci/run both call it);
# `make demo` runs the demo. Both install what they need first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install test test-fast soak lint demo bench broker-start broker-stop broker-status clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("crisiswatch needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)  ## Python environment in .venv and the Kafka broker's jars in .cache/
	$(PY) deploy/kafka/broker.py fetch
	bash scripts/install_prometheus.sh

test: install lint  ## the whole suite, against a real local Kafka broker
	$(PY) -m pytest

test-fast: install  ## tests that need no broker
	$(PY) -m pytest -m "not kafka"

soak: install  ## the fuzz tests at full size: 100,000 malformed posts through a real worker (tens of minutes)
	CRISISWATCH_FUZZ_POSTS=100000 CRISISWATCH_FUZZ_EXAMPLES=3000 $(PY) -m pytest tests/test_fuzz.py -s --timeout=7200

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: install  ## local broker + worker, replay the generated scenario, live counts
	$(PY) scripts/demo.py

bench: install  ## throughput of the raw consumer vs the crisiswatch worker on the local broker
	$(PY) bench/bench_pipeline.py

broker-start: install
	$(PY) deploy/kafka/broker.py start
broker-stop:
	$(PY) deploy/kafka/broker.py stop
broker-status:
	$(PY) deploy/kafka/broker.py status

clean:
	rm -rf .cache build *.egg-info .pytest_cache .ruff_cache
