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

# The main job on the bundled samples, as far as the targets go today (`sparse`; `xpikeformer`
# and `stacked3d` are the next issues): check the reference interpreter against onnxruntime,
# compile each sample for the sparse design and its dense baseline, run both, print the account
# of one run in full and a comparison of all.
demo: $(STAMP)
	@mkdir -p out
	@echo "== spikec eval samples/sdt.onnx --reference onnxruntime (the oracle)"
	@$(BIN)/spikec eval samples/sdt.onnx --input samples/sdt_input.npy --reference onnxruntime
	@echo "== spikec targets"
	@$(BIN)/spikec targets
	@for m in spikformer sdt xpikeformer moe; do for v in sparse dense; do \
		$(BIN)/spikec compile samples/$$m.onnx -t sparse --variant $$v -o out/$$m.sparse-$$v \
			| sed 's/^/   /' || exit 1; \
	done; done
	@echo "== spikec run out/sdt.sparse-sparse --input samples/sdt_input.npy"
	@$(BIN)/spikec run out/sdt.sparse-sparse --input samples/sdt_input.npy -o out/sdt_logits.npy
	@$(BIN)/spikec eval samples/sdt.onnx --input samples/sdt_input.npy -o out/sdt_reference.npy \
		> /dev/null
	@cmp -s out/sdt_logits.npy out/sdt_reference.npy \
		&& echo "   outputs identical to the reference interpreter's" \
		|| { echo "   outputs differ from the reference interpreter's"; exit 1; }
	@echo "== comparison (batch 2, T = 4): sparse design vs dense baseline"
	@for m in spikformer sdt xpikeformer moe; do for v in sparse dense; do \
		printf "   %-12s %-7s" $$m $$v; \
		$(BIN)/spikec run out/$$m.sparse-$$v --input samples/$${m}_input.npy \
			| grep -m1 "latency" | sed 's/^ *//' || exit 1; \
	done; done

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
