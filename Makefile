# The two commands a newcomer runs: `make demo` and `make test`. Both build .venv from nothing.
VENV   := .venv
PY     := $(VENV)/bin/python
AGENTKIT := $(VENV)/bin/agentkit
DEMO_HOME := .agentkit-demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama-cpp-python compiles llama.cpp. The multimodal part is not needed, and a portable
# AVX2 build is used because a -march=native build crashes on CPUs with AMX inside some VMs.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
# pip's own cache keys wheels by version, not by build flags, so the wheel built with these
# flags is kept in a folder named after them.
LLAMA_WHEELS := $(HOME)/.cache/agentkit/llama-wheels/$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast venv lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
		echo "Compiling llama-cpp-python $(LLAMA_VERSION) (once; about 10-15 minutes on 2 cores)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --no-cache-dir --no-deps \
			llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS); }
	# The server extra is llama.cpp's own OpenAI-compatible server: the slow tests run the
	# `openai:` generator against it.
	$(PY) -m pip install --quiet "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl | head -n 1)[server]"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	@$(AGENTKIT) --home $(DEMO_HOME) show demo >/dev/null 2>&1 || \
		$(AGENTKIT) --home $(DEMO_HOME) create demo --description "Demo: the Quillstack docs in data/"
	$(AGENTKIT) --home $(DEMO_HOME) add demo data/quillstack
	@while IFS= read -r question; do \
		[ -n "$$question" ] || continue; \
		echo; echo "Q: $$question"; \
		$(AGENTKIT) --home $(DEMO_HOME) ask demo "$$question" || exit 1; \
	done < data/demo_questions.txt

test: venv
	$(PY) -m pytest -q -ra

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_HOME) build *.egg-info
