# Every target runs inside the project's virtual environment, made on demand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The Keras 3 leg (README.md, "Test matrix"): newest tensorflow-cpu, the base
# package only (no tensorflow-compression), the layer and vision tests.
VENV_KERAS3 ?= .venv-keras3
PY_KERAS3 := $(VENV_KERAS3)/bin/python
KERAS3_TENSORFLOW ?= tensorflow-cpu
KERAS3_TESTS ?= tests/test_layers.py tests/test_warp.py tests/test_models.py \
  tests/test_train_vision.py \
  tests/test_losses.py tests/test_data.py tests/test_flops.py
# A quick subset of the pinned suite (under 3 minutes on 2 cores).
FAST_TESTS ?= tests/test_layers.py tests/test_losses.py tests/test_data.py \
  tests/test_flops.py
# The suite is mostly single-threaded Python (tracing, exports, subprocess
# binaries): two pytest-xdist workers halve its wall time on 2 cores.
PYTEST_WORKERS ?= 2
PYTEST_FLAGS ?= -q -p no:cacheprovider -n $(PYTEST_WORKERS)

.PHONY: demo test test-fast test-keras3 check-docs install install-keras3 \
  bazel-test bench-images train-images campaign benchmarks compressai-venv clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	touch $@

install: $(VENV)/.installed

# tensorflow-cpu provides the `tensorflow` module; RESIZER_TF_TENSORFLOW keeps
# pip from adding the `tensorflow` distribution on top (setup.py).
$(VENV_KERAS3)/.installed: setup.py
	$(PYTHON) -m venv $(VENV_KERAS3)
	$(PY_KERAS3) -m pip install -q --upgrade pip
	$(PY_KERAS3) -m pip install -q "$(KERAS3_TENSORFLOW)>=2.16"
	RESIZER_TF_TENSORFLOW=$(KERAS3_TENSORFLOW) $(PY_KERAS3) -m pip install -q -e ".[test,eval]"
	touch $@

install-keras3: $(VENV_KERAS3)/.installed

demo: install
	$(PY) -m experiments.demo

test: install
	$(PY) -m pytest $(PYTEST_FLAGS) tests

test-fast: install
	$(PY) -m pytest $(PYTEST_FLAGS) $(FAST_TESTS)

test-keras3: install-keras3
	$(PY_KERAS3) -c "import tensorflow as tf; print('TensorFlow', tf.__version__, '/ Keras', tf.keras.__version__)"
	$(PY_KERAS3) -m pytest $(PYTEST_FLAGS) $(KERAS3_TESTS)

# Runs the shell commands of README.md and docs/*.md (cheap ones, tiny flags).
# CHECK_DOCS_FLAGS=--flags_only checks flags without running the binaries.
CHECK_DOCS_FLAGS ?=
check-docs: install
	$(PY) tools/check_docs.py $(CHECK_DOCS_FLAGS)

BAZEL_TESTS ?= //...
bazel-test: install
	bazel build --python_path=$(abspath $(PY)) //...
	bazel test --python_path=$(abspath $(PY)) --test_output=errors $(BAZEL_TESTS)

# Installs the Debian packages in $(1) when missing (as root), or says how.
define ensure_debs
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "This target needs the Debian packages: $$missing"; \
	    echo "  sudo apt-get install $$missing"; exit 1; \
	  fi; \
	fi
endef

# The bench photos come from two Debian packages; installed here when missing.
BENCH_PACKAGES := mate-backgrounds plasma-workspace-wallpapers
bench-images: install
	$(call ensure_debs,$(BENCH_PACKAGES))
	$(PY) -m experiments.make_bench_images --output_dir=runs/bench768

# Training photos: other Debian packages, disjoint from the bench set.
TRAIN_PACKAGES := lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
train-images: install
	$(call ensure_debs,$(TRAIN_PACKAGES))
	$(PY) -m experiments.make_train_images --output_dir=runs/train_images

# The training campaign of docs/training_campaign.md (hours on 2 cores;
# resumes from the snapshots in resizer_tf/pretrained_weights).
campaign: train-images
	$(PY) -m experiments.train_campaign --train_dir=runs/train_images

# The optional CompressAI speed reference of benchmarks/codec_speed.py
# (--compressai_python), never a dependency of the package.
compressai-venv:
	test -x .venv-compressai/bin/python || python3.11 -m venv .venv-compressai
	.venv-compressai/bin/pip install -q torch compressai

benchmarks: install
	$(PY) -m benchmarks.warp --output=benchmarks/results/warp.json
	$(PY) -m benchmarks.codec_speed --output=benchmarks/results/codec_speed.json
	$(PY) -m benchmarks.resizer_fashion_mnist

clean:
	rm -rf $(VENV) $(VENV_KERAS3) bazel-*
