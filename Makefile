# spikec — `make demo` and `make test` set up .venv from this checkout and run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck unit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The main job on the bundled MoE sample, as far as the pipeline goes today: import to IR,
# round-trip the IR, evaluate with the reference interpreter and check it against onnxruntime;
# then the same check on every sample.
demo: $(STAMP)
	@mkdir -p out
	@echo "== spikec import samples/moe.onnx -o out/moe.mlir"
	@$(BIN)/spikec import samples/moe.onnx -o out/moe.mlir
	@grep -n -m1 -A12 "func.func @main" out/moe.mlir | cut -c1-160; \
		echo "   ... ($$(wc -l < out/moe.mlir) lines in out/moe.mlir)"
	@echo "== spikec opt out/moe.mlir -p 'cse,dce' (parse, verify, transform, print)"
	@$(BIN)/spikec opt out/moe.mlir -p 'cse,dce' -o out/moe.opt.mlir && echo "   wrote out/moe.opt.mlir"
	@echo "== spikec eval samples/moe.onnx --stats --reference onnxruntime"
	@$(BIN)/spikec eval samples/moe.onnx --input samples/moe_input.npy -o out/moe_logits.npy \
		--stats --reference onnxruntime
	@for m in spikformer sdt xpikeformer; do \
		echo "== spikec eval samples/$$m.onnx --reference onnxruntime"; \
		$(BIN)/spikec eval samples/$$m.onnx --input samples/$${m}_input.npy \
			--reference onnxruntime || exit 1; \
	done
	@echo "(compiling for the three accelerator targets comes with the runtime and target issues)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
