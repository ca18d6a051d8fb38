# Every target runs inside the project's virtual environment, made on demand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install bazel-test bench-images benchmarks clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m experiments.demo

test: install
	$(PY) -m pytest -q -p no:cacheprovider tests

BAZEL_TESTS ?= //...
bazel-test: install
	bazel build --python_path=$(abspath $(PY)) //...
	bazel test --python_path=$(abspath $(PY)) --test_output=errors $(BAZEL_TESTS)

bench-images: install
	$(PY) -m experiments.make_bench_images --output_dir=runs/bench768

benchmarks: install
	$(PY) -m benchmarks.warp --output=benchmarks/results/warp.json
	$(PY) -m benchmarks.codec_speed --output=benchmarks/results/codec_speed.json
	$(PY) -m benchmarks.resizer_fashion_mnist

clean:
	rm -rf $(VENV) bazel-*
