// RUN: spikec opt %s -p 'tier-map{tiers=2}' | filecheck %s --check-prefix=MOL
// RUN: spikec opt %s -p 'tier-map{tiers=1}' | filecheck %s --check-prefix=PLANAR
// RUN: spikec opt %s -p 'partition-heads{units=2},tier-map{tiers=2 mode=logic-on-logic neuron-tier=1 unit-kinds="linear:systolic"}' | filecheck %s --check-prefix=LOL
// RUN: spikec opt %s -p 'tier-map{tiers=2 mode=logic-on-logic neuron-tier=1 unit-kinds="linear:systolic"},partition-heads{units=2}' | filecheck %s --check-prefix=AFTER
// RUN: spikec opt %s -p 'tier-map{tiers=2 mode=logic-on-logic},sparsity-encoding{producers=threshold}' | filecheck %s --check-prefix=ENCODED
// RUN: not spikec opt %s -p 'tier-map{tiers=0}' 2>&1 | filecheck %s --check-prefix=TIERS
// RUN: not spikec opt %s -p 'tier-map{mode=sideways}' 2>&1 | filecheck %s --check-prefix=MODE
// RUN: not spikec opt %s -p 'tier-map{tiers=2 neuron-tier=2}' 2>&1 | filecheck %s --check-prefix=NEURON
// RUN: not spikec opt %s -p 'tier-map{unit-kinds=linear}' 2>&1 | filecheck %s --check-prefix=KINDS

builtin.module attributes {spike.timesteps = 4 : i64} {
  spike.global @w : tensor<8x8xf32>
  func.func @main(%x: tensor<4x?x6x8xf32>) -> tensor<4x?x6x8xf32> {
    %q = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %a = spike.ssa %q, %q, %q {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> tensor<4x?x6x8xf32>
    %w = spike.weight @w : tensor<8x8xf32>
    %y = spike.linear %a, %w : (tensor<4x?x6x8xf32>, tensor<8x8xf32>) -> tensor<4x?x6x8xf32>
    func.return %y : tensor<4x?x6x8xf32>
  }
}

// Memory on logic: compute on tier 0, the weight buffer on tier 1 above it; reading the weight
// crosses the tiers (64 weights of 8 bits).
// The summary keeps the options, for the passes that add ops after tier-map.
// MOL:      builtin.module attributes {spike.timesteps = 4 : i64, spike.tier_map = {mode = "memory-on-logic", tiers = 2 : i64, cross_tier_bytes = 64 : i64, neuron_tier = -1 : i64, spike_rate = 1.500000e-01 : f64, activation_bits = 16 : i64, weight_bits = 8 : i64}}
// MOL-NEXT:   spike.global @w : tensor<8x8xf32> {spike.tier = 1 : i64}
// MOL:        %q = spike.lif %x {spike.tier = 0 : i64, spike.unit = #spike.unit<neuron 0>
// MOL-NEXT:   %a = spike.ssa %q, %q, %q {spike.tier = 0 : i64, spike.unit = #spike.unit<attention 0>
// MOL-NEXT:   %w = spike.weight @w : tensor<8x8xf32> {spike.tier = 1 : i64, spike.cross_tier_bytes = 64 : i64}
// MOL-NEXT:   %y = spike.linear %a, %w {spike.tier = 0 : i64, spike.unit = #spike.unit<mlp 0>}

// PLANAR: spike.tier_map = {mode = "memory-on-logic", tiers = 1 : i64, cross_tier_bytes = 0 : i64,
// PLANAR-NOT: spike.tier = 1
// PLANAR-NOT: spike.cross_tier_bytes

// Logic on logic: the neuron pinned to tier 1, the two heads on both tiers; the head slices of
// Q, K, V for the head on tier 0 cross (4x6x4 bits = 12 bytes each at batch 1), and so does the
// real output of the head on tier 1 (4x6x4 values of 16 bits = 192 bytes).
// LOL:      spike.tier_map = {mode = "logic-on-logic", tiers = 2 : i64, cross_tier_bytes = 228 : i64, neuron_tier = 1 : i64, {{.*}}, unit_kinds = ["linear:systolic"]}
// LOL:      %q = spike.lif %x {spike.tier = 1 : i64, spike.unit = #spike.unit<neuron 0>
// LOL-NEXT: %a.q0, %a.q1 = spike.split %q {spike.tier = 1 : i64, spike.unit = #spike.unit<vector 0>, spike.cross_tier_bytes = 12 : i64
// LOL:      %a.h0 = spike.ssa {{.*}}spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, spike.tier = 0 : i64
// LOL-NEXT: %a.h1 = spike.ssa {{.*}}spike.unit = #spike.unit<head 1>, spike.head = 1 : i64, spike.tier = 1 : i64, spike.cross_tier_bytes = 192 : i64
// LOL:      %w = spike.weight @w : tensor<8x8xf32> {spike.tier = 0 : i64}
// LOL-NEXT: %y = spike.linear %a, %w {spike.tier = 0 : i64, spike.unit = #spike.unit<systolic 0>}

// Partitioned after tier-map: the new ops are placed as tier-map places them (the heads on both
// tiers, every op with a tier and a unit), the old ones stay, and the crossings are recorded
// anew: the concat on tier 0 now sends the linear layer on tier 1 its 384 bytes.
// AFTER:      spike.tier_map = {mode = "logic-on-logic", tiers = 2 : i64, cross_tier_bytes = 612 : i64
// AFTER:      %q = spike.lif %x {spike.tier = 1 : i64, spike.unit = #spike.unit<neuron 0>
// AFTER-NEXT: %a.q0, %a.q1 = spike.split %q {spike.tier = 1 : i64, spike.unit = #spike.unit<vector 0>, spike.cross_tier_bytes = 12 : i64
// AFTER:      %a.h0 = spike.ssa {{.*}}spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, spike.tier = 0 : i64
// AFTER-NEXT: %a.h1 = spike.ssa {{.*}}spike.unit = #spike.unit<head 1>, spike.head = 1 : i64, spike.tier = 1 : i64, spike.cross_tier_bytes = 192 : i64
// AFTER-NEXT: %a = spike.concat {{.*}}spike.tier = 0 : i64, spike.unit = #spike.unit<vector 0>, spike.cross_tier_bytes = 384 : i64
// AFTER:      %y = spike.linear %a, %w {spike.tier = 1 : i64, spike.unit = #spike.unit<systolic 0>}

// Encoded after tier-map: the encode gets a tier and the encoder unit.
// ENCODED:      %q_addr = spike.encode %q {spike.tier = 0 : i64, spike.unit = #spike.unit<encoder 0>}

// TIERS: spikec: error: tier-map: tiers must be >= 1, got 0
// MODE: spikec: error: tier-map: mode must be one of memory-on-logic, logic-on-logic, got 'sideways'
// NEURON: spikec: error: tier-map: neuron-tier 2 is not a tier of 2
// KINDS: spikec: error: tier-map: unit-kinds entry 'linear' must be "op:kind" (e.g. "linear:systolic")
