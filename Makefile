# spikec — `make demo` and `make test` set up .venv from this checkout and run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck unit fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The main job on the bundled samples: check the reference interpreter against onnxruntime,
# import an snnTorch network through NIR and run it on every target,
# compile each sample for every target and variant, run them all, print the account of one run
# in full, the analog numerics' deviation on one, 3D against 2D on the MoE sample, a
# comparison of all, a sweep of the ADC resolution in analog numerics, and `spikec compare` on
# the MoE sample.
DESIGNS := stacked3d:3d stacked3d:2d xpikeformer:xpikeformer xpikeformer:digital-snn \
	xpikeformer:digital-ann sparse:sparse sparse:dense
SAMPLES := spikformer sdt xpikeformer moe

demo: $(STAMP)
	@mkdir -p out
	@echo "== spikec eval samples/sdt.onnx --reference onnxruntime (the oracle)"
	@$(BIN)/spikec eval samples/sdt.onnx --input samples/sdt_input.npy --reference onnxruntime
	@echo "== spikec import samples/export/snntorch_attention.dynamo.onnx --explain (a torch.onnx export)"
	@$(BIN)/spikec import samples/export/snntorch_attention.dynamo.onnx --explain -o out/snn.mlir \
		2>&1 | grep -v '^    ' | sed 's/^/   /'
	@$(BIN)/spikec eval samples/export/snntorch_attention.dynamo.onnx \
		--input samples/export/digits_test_x.npy --labels samples/export/digits_test_y.npy \
		--reference onnxruntime | sed 's/^/   /'
	@echo "== spikec import samples/export/snntorch_rleaky.nir (an snnTorch RLeaky network through NIR)"
	@$(BIN)/spikec import samples/export/snntorch_rleaky.nir --dt 1e-4 --timesteps 6 \
		| grep -E 'nir_discretisation|spike.leaky' | sed 's/ : (.*//; s/^ */   /'
	@$(BIN)/spikec eval samples/export/snntorch_rleaky.nir --dt 1e-4 --timesteps 6 \
		--input samples/export/nir_test_x.npy -o out/rleaky_reference.npy | sed 's/^/   /'
	@$(BIN)/python -c "import numpy as np, sys; a = np.load('out/rleaky_reference.npy'); \
		b = np.load('samples/export/snntorch_rleaky_nir_reference.npy'); \
		print('   spikes identical to snnTorch\'s' if (a == b).all() else '   spikes differ from snnTorch\'s'); \
		sys.exit(0 if (a == b).all() else 1)"
	@for t in stacked3d xpikeformer sparse; do \
		$(BIN)/spikec compile samples/export/snntorch_rleaky.nir --dt 1e-4 --timesteps 6 -t $$t \
			-o out/rleaky.$$t | sed 's/^/   /' || exit 1; \
		$(BIN)/spikec run out/rleaky.$$t --input samples/export/nir_test_x.npy \
			-o out/rleaky.$$t.npy | grep -m1 latency | sed "s/^ */   $$t: /; s/ (dynamic.*//" || exit 1; \
		cmp -s out/rleaky.$$t.npy out/rleaky_reference.npy \
			|| { echo "   $$t: outputs differ from the reference interpreter's"; exit 1; }; \
	done
	@echo "== spikec targets"
	@$(BIN)/spikec targets
	@echo "== spikec compile SAMPLE -t TARGET --variant VARIANT, for every sample and design"
	@for m in $(SAMPLES); do for d in $(DESIGNS); do t=$${d%%:*}; v=$${d##*:}; \
		$(BIN)/spikec compile samples/$$m.onnx -t $$t --variant $$v -o out/$$m.$$t-$$v \
			| sed 's/^/   /' || exit 1; \
	done; done
	@echo "== spikec run out/sdt.sparse-sparse --input samples/sdt_input.npy"
	@$(BIN)/spikec run out/sdt.sparse-sparse --input samples/sdt_input.npy -o out/sdt_logits.npy
	@$(BIN)/spikec eval samples/sdt.onnx --input samples/sdt_input.npy -o out/sdt_reference.npy \
		> /dev/null
	@cmp -s out/sdt_logits.npy out/sdt_reference.npy \
		&& echo "   outputs identical to the reference interpreter's" \
		|| { echo "   outputs differ from the reference interpreter's"; exit 1; }
	@echo "== spikec run out/xpikeformer.xpikeformer-xpikeformer --numerics analog (PCM noise, drift, ADC/DAC)"
	@$(BIN)/spikec run out/xpikeformer.xpikeformer-xpikeformer \
		--input samples/xpikeformer_input.npy --numerics analog \
		| awk '/^energy by component/ {p = 1} /^units/ {p = 0} /^numerics/ {q = 1} p || q'
	@echo "== spikec run out/moe.stacked3d-3d (3D against 2D, tiers, experts)"
	@$(BIN)/spikec run out/moe.stacked3d-3d --input samples/moe_input.npy \
		| awk '/^tiers:/ || /^experts_tokens/ || /^expert_balance/ {print} /^vs_2d/ {q = 1} q'
	@echo "== comparison (batch 2, T = 4; exact numerics)"
	@for m in $(SAMPLES); do for d in $(DESIGNS); do t=$${d%%:*}; v=$${d##*:}; \
		printf "   %-12s %-24s" $$m "$$t $$v"; \
		$(BIN)/spikec run out/$$m.$$t-$$v --input samples/$${m}_input.npy \
			| grep -m1 "latency" | sed 's/^ *//; s/ (dynamic.*//' || exit 1; \
	done; done
	@echo "== spikec sweep samples/xpikeformer.onnx -t xpikeformer --grid 'adc.bits=3,4,6,8' --numerics analog --seeds 3 (ADC resolution: energy vs fidelity)"
	@rm -f out/adc.csv
	@$(BIN)/spikec sweep samples/xpikeformer.onnx --input samples/xpikeformer_input.npy \
		-t xpikeformer --grid 'adc.bits=3,4,6,8' --numerics analog --seeds 3 -o out/adc.csv \
		--plot out/adc | sed 's/^/   /'
	@echo "== spikec compare samples/moe.onnx --input samples/moe_input.npy --plot out/plots (every design, one table, charts)"
	@$(BIN)/spikec compare samples/moe.onnx --input samples/moe_input.npy --plot out/plots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test: lint typecheck unit

# A longer fuzzing run than `make test`'s: FUZZ_CASES mutants of each of the eight kinds (ONNX
# structure, ONNX bytes, non-UTF-8 names, IR text, program folders, command lines, NIR bytes,
# NIR parameters), from FUZZ_SEED.
FUZZ_CASES ?= 2000
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_SEED=$(FUZZ_SEED) PATH="$(abspath $(BIN)):$$PATH" \
		$(BIN)/python -m pytest -q -s -p no:warnings tests/fuzz

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
