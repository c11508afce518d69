# The two commands a newcomer runs: `make demo` and `make test`. Both build .venv from nothing.
VENV   := .venv
PY     := $(VENV)/bin/python
AGENTKIT := $(VENV)/bin/agentkit
DEMO_HOME := .agentkit-demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama-cpp-python compiles llama.cpp; the multimodal part is not needed.
export CMAKE_ARGS := -DLLAVA_BUILD=OFF

.PHONY: demo test test-fast venv lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
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
