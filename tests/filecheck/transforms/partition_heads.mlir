// RUN: spikec opt %s -p 'partition-heads{units=2}' | filecheck %s --check-prefix=RR
// RUN: spikec opt %s -p 'partition-heads{units=8 policy=balanced}' | filecheck %s --check-prefix=WIDE
// RUN: spikec opt %s -p 'partition-heads{units=8}' | filecheck %s --check-prefix=IDLE
// RUN: not spikec opt %s -p 'partition-heads{units=0}' 2>&1 | filecheck %s --check-prefix=ZERO
// RUN: not spikec opt %s -p 'partition-heads{units=2 policy=greedy}' 2>&1 | filecheck %s --check-prefix=POLICY
// RUN: spikec opt %s -p 'sparsity-encoding{consumers=ssa,token_attention},partition-heads{units=2 policy=balanced}' | filecheck %s --check-prefix=ENC
// RUN: spikec opt %s -p 'tier-map{tiers=2 mode=logic-on-logic},partition-heads{units=2}' | filecheck %s --check-prefix=TIERED

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @heads(%x: tensor<4x?x6x8xf32>) -> (tensor<4x?x6x8xf32>, !spike.train<4x?x6x8>) {
    %q = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %a = spike.ssa %q, %q, %q {heads = 4 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> tensor<4x?x6x8xf32>
    %s = spike.stochastic_attention %q, %q, %q {heads = 1 : i64, c1 = 4.000000e+00 : f32, c2 = 4.000000e+00 : f32, mask_diagonal = true, seed = 3 : i64, stream = 0 : i64} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    func.return %a, %s : tensor<4x?x6x8xf32>, !spike.train<4x?x6x8>
  }
  func.func @tokens(%x: tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8> {
    %q = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %k = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %t = spike.token_attention %q, %k {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    func.return %t : !spike.train<4x?x6x8>
  }
}

// Four heads on two units, round-robin; a single head stays on unit 0.
// RR:      %a.q0, %a.q1, %a.q2, %a.q3 = spike.split %q {axis = 3 : i64, sizes = array<i64: 2, 2, 2, 2>}
// RR:      %a.h0 = spike.ssa %a.q0, %a.k0, %a.v0 {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, heads = 1 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x6x2>, !spike.train<4x?x6x2>, !spike.train<4x?x6x2>) -> tensor<4x?x6x2xf32>
// RR-NEXT: %a.h1 = spike.ssa {{.*}}spike.unit = #spike.unit<head 1>, spike.head = 1
// RR-NEXT: %a.h2 = spike.ssa {{.*}}spike.unit = #spike.unit<head 0>, spike.head = 2
// RR-NEXT: %a.h3 = spike.ssa {{.*}}spike.unit = #spike.unit<head 1>, spike.head = 3
// RR-NEXT: %a = spike.concat %a.h0, %a.h1, %a.h2, %a.h3 {spike.head_units = array<i64: 0, 1, 0, 1>, axis = 3 : i64}
// RR:      %s.h0 = spike.stochastic_attention %q, %q, %q {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, heads = 1 : i64, {{.*}}head_range = array<i64: 0, 1>, query_range = array<i64: 0, 6>}

// Eight units for four heads: each head's six query tokens are split over two units; the lone
// stochastic head is split over all eight (at most one query each: six units work).
// WIDE:      %a.h0.q0, %a.h0.q1 = spike.split %a.q0 {axis = 2 : i64, sizes = array<i64: 3, 3>}
// WIDE-NEXT: %a.h0.p0 = spike.ssa %a.h0.q0, %a.k0, %a.v0 {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64{{.*}}} : (!spike.train<4x?x3x2>, !spike.train<4x?x6x2>, !spike.train<4x?x6x2>) -> tensor<4x?x3x2xf32>
// WIDE-NEXT: %a.h0.p1 = spike.ssa %a.h0.q1, %a.k0, %a.v0 {spike.unit = #spike.unit<head 1>, spike.head = 0
// WIDE-NEXT: %a.h0 = spike.concat %a.h0.p0, %a.h0.p1 {axis = 2 : i64}
// WIDE:      %a.h3.p1 = spike.ssa {{.*}}spike.unit = #spike.unit<head 7>, spike.head = 3
// WIDE:      spike.split %q {axis = 2 : i64, sizes = array<i64: 1, 1, 1, 1, 1, 1>}
// WIDE:      %s.h0.p5 = spike.stochastic_attention {{.*}}spike.unit = #spike.unit<head 5>{{.*}}query_range = array<i64: 5, 6>

// Token attention: split per head like SDSA, Q and K alike (no V).
// RR:      %t.q0, %t.q1 = spike.split %q {axis = 3 : i64, sizes = array<i64: 4, 4>}
// RR-NEXT: %t.k0, %t.k1 = spike.split %k {axis = 3 : i64, sizes = array<i64: 4, 4>}
// RR-NEXT: %t.h0 = spike.token_attention %t.q0, %t.k0 {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, heads = 1 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32{{.*}}} : (!spike.train<4x?x6x4>, !spike.train<4x?x6x4>) -> !spike.train<4x?x6x4>
// RR-NEXT: %t.h1 = spike.token_attention %t.q1, %t.k1 {spike.unit = #spike.unit<head 1>, spike.head = 1 : i64, heads = 1
// RR-NEXT: %t = spike.concat %t.h0, %t.h1 {spike.head_units = array<i64: 0, 1>, axis = 3 : i64}

// Spare units take slices of a head's tokens: each token masks its own K, so K is sliced with Q.
// WIDE:      %t.h0.q0, %t.h0.q1, %t.h0.q2, %t.h0.q3 = spike.split %t.q0 {axis = 2 : i64, sizes = array<i64: 2, 2, 1, 1>}
// WIDE-NEXT: %t.h0.k0, %t.h0.k1, %t.h0.k2, %t.h0.k3 = spike.split %t.k0 {axis = 2 : i64, sizes = array<i64: 2, 2, 1, 1>}
// WIDE-NEXT: %t.h0.p0 = spike.token_attention %t.h0.q0, %t.h0.k0 {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64{{.*}}} : (!spike.train<4x?x2x4>, !spike.train<4x?x2x4>) -> !spike.train<4x?x2x4>
// WIDE:      %t.h1.p3 = spike.token_attention %t.h1.q3, %t.h1.k3 {spike.unit = #spike.unit<head 7>, spike.head = 1 : i64

// Round-robin with more units than heads leaves the extra units idle.
// IDLE:     spike.unit = #spike.unit<head 3>, spike.head = 3
// IDLE-NOT: #spike.unit<head 4>

// ZERO: spikec: error: partition-heads: units must be >= 1, got 0
// POLICY: spikec: error: partition-heads: policy must be one of round-robin, balanced, got 'greedy'

// Encoded Q, K, V (sparsity-encoding ran first): an address list is sliced as dense spikes (the
// decode sparsity-encoding left for the stochastic attention is reused) and each one-head op
// reads its slice encoded again; an operand that needs no slicing stays as it is.
// ENC:      %q = spike.lif %x {{.*}} -> !spike.encoded<addr 4x?x6 : 8>
// ENC-NEXT: %q_dense = spike.decode %q : !spike.encoded<addr 4x?x6 : 8> -> !spike.train<4x?x6x8>
// ENC-NEXT: %a.q0, %a.q1, %a.q2, %a.q3 = spike.split %q_dense {axis = 3 : i64
// ENC-NOT:  spike.decode %q
// ENC:      %a.q0_addr = spike.encode %a.q0 : !spike.train<4x?x6x2> -> !spike.encoded<addr 4x?x6 : 2>
// ENC-NEXT: %a.k0_addr = spike.encode %a.k0
// ENC-NEXT: %a.v0_addr = spike.encode %a.v0
// ENC-NEXT: %a.h0 = spike.ssa %a.q0_addr, %a.k0_addr, %a.v0_addr {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64{{.*}}} : (!spike.encoded<addr 4x?x6 : 2>, !spike.encoded<addr 4x?x6 : 2>, !spike.encoded<addr 4x?x6 : 2>) -> tensor<4x?x6x2xf32>
// ENC:      %s.h0.p0 = spike.stochastic_attention %s.h0.q0, %q_dense, %q_dense {spike.unit = #spike.unit<head 0>
// ENC-LABEL: func.func @tokens
// ENC:      %t.q0, %t.q1 = spike.split %q_dense {axis = 3 : i64
// ENC:      %t.k0, %t.k1 = spike.split %k_dense {axis = 3 : i64
// ENC:      %t.h0 = spike.token_attention %t.q0_addr, %t.k0_addr {spike.unit = #spike.unit<head 0>{{.*}}} : (!spike.encoded<addr 4x?x6 : 4>, !spike.encoded<addr 4x?x6 : 4>) -> !spike.train<4x?x6x4>

// After tier-map an attention runs on a unit that is not a head unit: it is partitioned, and
// the new ops are placed as tier-map places them (the heads alternate over the tiers), with the
// bytes crossing tiers recorded anew.
// TIERED:      spike.tier_map = {mode = "logic-on-logic", tiers = 2 : i64, cross_tier_bytes = 264 : i64
// TIERED:      %a.q0, %a.q1, %a.q2, %a.q3 = spike.split %q {spike.tier = 0 : i64, spike.unit = #spike.unit<vector 0>, spike.cross_tier_bytes = 12 : i64
// TIERED:      %a.h0 = spike.ssa %a.q0, %a.k0, %a.v0 {spike.unit = #spike.unit<head 0>, spike.head = 0 : i64, spike.tier = 0 : i64, spike.cross_tier_bytes = 96 : i64
// TIERED-NEXT: %a.h1 = spike.ssa %a.q1, %a.k1, %a.v1 {spike.unit = #spike.unit<head 1>, spike.head = 1 : i64, spike.tier = 1 : i64
// TIERED:      %a = spike.concat {{.*}}spike.tier = 1 : i64
// TIERED-NOT:  #spike.unit<attention
