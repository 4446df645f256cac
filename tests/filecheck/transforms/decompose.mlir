// RUN: spikec opt %s -p 'decompose{ops=ssa,sdsa,moe}' | filecheck %s
// RUN: spikec opt %s -p 'decompose{ops=sdsa}' | filecheck %s --check-prefix=ONLY
// RUN: spikec opt %s -p 'decompose{ops=token_attention}' | filecheck %s --check-prefix=TOKEN
// RUN: not spikec opt %s -p 'decompose' 2>&1 | filecheck %s --check-prefix=NOTABLES
// RUN: not spikec opt %s -p 'decompose{ops=lif}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x6x8xf32>, %u1: tensor<4x1x2x6x6xf32>, %u2: tensor<4x1x2x6x4xf32>) -> (tensor<4x?x6x8xf32>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, tensor<4x?x6x8xf32>) {
    %q = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %a = spike.ssa %q, %q, %q {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> tensor<4x?x6x8xf32>
    %d = spike.sdsa %q, %q, %q {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    %tk = spike.token_attention %q, %d {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    %s = spike.stochastic_attention %q, %q, %q, %u1, %u2 {heads = 2 : i64, c1 = 4.000000e+00 : f32, c2 = 2.000000e+00 : f32, mask_diagonal = true, seed = 0 : i64, stream = 0 : i64} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, tensor<4x1x2x6x6xf32>, tensor<4x1x2x6x4xf32>) -> !spike.train<4x?x6x8>
    %r = spike.stochastic_attention %q, %q, %q {heads = 2 : i64, c1 = 4.000000e+00 : f32, c2 = 2.000000e+00 : f32, mask_diagonal = false, seed = 0 : i64, stream = 1 : i64} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    %g = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %g2, %g6 = spike.split %g {axis = 3 : i64, sizes = array<i64: 2, 6>} : (!spike.train<4x?x6x8>) -> (!spike.train<4x?x6x2>, !spike.train<4x?x6x6>)
    %m = "spike.moe"(%x, %g2) ({
    ^bb0(%e0: tensor<4x?x6x8xf32>):
      %f0 = spike.lif %e0 {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
      spike.yield %f0 : !spike.train<4x?x6x8>
    }, {
    ^bb0(%e1: tensor<4x?x6x8xf32>):
      spike.yield %e1 : tensor<4x?x6x8xf32>
    }) : (tensor<4x?x6x8xf32>, !spike.train<4x?x6x2>) -> tensor<4x?x6x8xf32>
    func.return %a, %d, %s, %r, %m : tensor<4x?x6x8xf32>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, tensor<4x?x6x8xf32>
  }
}

// SSA: heads by reshape and transpose, two products and a scale.
// CHECK:      %a.q5 = spike.reshape %q {shape = array<i64: 4, -1, 6, 2, 4>}
// CHECK-NEXT: %a.q = spike.transpose %a.q5 {perm = array<i64: 0, 1, 3, 2, 4>} : (!spike.train<4x?x6x2x4>) -> !spike.train<4x?x2x6x4>
// CHECK:      %a.kt = spike.transpose %a.k {perm = array<i64: 0, 1, 2, 4, 3>}
// CHECK-NEXT: %a.scores = spike.matmul %a.q, %a.kt : (!spike.train<4x?x2x6x4>, !spike.train<4x?x2x4x6>) -> tensor<4x?x2x6x6xf32>
// CHECK-NEXT: %a.scale = spike.constant dense<1.250000e-01> : tensor<f32>
// CHECK-NEXT: %a.scaled = spike.mul %a.scores, %a.scale
// CHECK-NEXT: %a.heads = spike.matmul %a.scaled, %a.v
// CHECK-NEXT: %a.out.t = spike.transpose %a.heads {perm = array<i64: 0, 1, 3, 2, 4>}
// CHECK-NEXT: %a = spike.reshape %a.out.t {shape = array<i64: 4, -1, 6, 8>}
// SDSA: AND, sum over tokens, the neuron, AND.
// CHECK-NEXT: %d.kv = spike.mul %q, %q : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
// CHECK-NEXT: %d.kv_sum = spike.reduce_sum %d.kv {axes = array<i64: 2>, keepdims = true} : (!spike.train<4x?x6x8>) -> tensor<4x?x1x8xf32>
// CHECK-NEXT: %d.kv_spikes = spike.lif %d.kv_sum {tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32
// CHECK-NEXT: %d = spike.mul %q, %d.kv_spikes : (!spike.train<4x?x6x8>, !spike.train<4x?x1x8>) -> !spike.train<4x?x6x8>
// Token attention and the stochastic attention are left alone (not in ops).
// CHECK-NEXT: %tk = spike.token_attention %q, %d
// CHECK:      %s = spike.stochastic_attention
// MoE: dispatch, the expert bodies, combine.
// CHECK:      %m.e0.in = spike.dispatch %x, %g2 {expert = 0 : i64}
// CHECK-NEXT: %f0 = spike.lif %m.e0.in
// CHECK-NEXT: %m.e1.in = spike.dispatch %x, %g2 {expert = 1 : i64}
// CHECK-NEXT: %m = spike.combine %g2, %f0, %m.e1.in : (!spike.train<4x?x6x2>, !spike.train<4x?x6x8>, tensor<4x?x6x8xf32>) -> tensor<4x?x6x8xf32>

// ONLY:     spike.ssa
// ONLY-NOT: spike.sdsa
// ONLY:     "spike.moe"

// Token attention: Q and K split into heads, Q summed over each head's channels, the neuron, AND
// into K, the heads merged back.
// TOKEN:      %d = spike.sdsa
// TOKEN-NEXT: %tk.q5 = spike.reshape %q {shape = array<i64: 4, -1, 6, 2, 4>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x6x2x4>
// TOKEN-NEXT: %tk.q = spike.transpose %tk.q5 {perm = array<i64: 0, 1, 3, 2, 4>} : (!spike.train<4x?x6x2x4>) -> !spike.train<4x?x2x6x4>
// TOKEN-NEXT: %tk.k5 = spike.reshape %d {shape = array<i64: 4, -1, 6, 2, 4>}
// TOKEN-NEXT: %tk.k = spike.transpose %tk.k5 {perm = array<i64: 0, 1, 3, 2, 4>}
// TOKEN-NEXT: %tk.q_sum = spike.reduce_sum %tk.q {axes = array<i64: 4>, keepdims = true} : (!spike.train<4x?x2x6x4>) -> tensor<4x?x2x6x1xf32>
// TOKEN-NEXT: %tk.token_spikes = spike.lif %tk.q_sum {tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x2x6x1xf32>) -> !spike.train<4x?x2x6x1>
// TOKEN-NEXT: %tk.heads = spike.mul %tk.token_spikes, %tk.k : (!spike.train<4x?x2x6x1>, !spike.train<4x?x2x6x4>) -> !spike.train<4x?x2x6x4>
// TOKEN-NEXT: %tk.out.t = spike.transpose %tk.heads {perm = array<i64: 0, 1, 3, 2, 4>}
// TOKEN-NEXT: %tk = spike.reshape %tk.out.t {shape = array<i64: 4, -1, 6, 8>} : (!spike.train<4x?x6x2x4>) -> !spike.train<4x?x6x8>
// TOKEN-NOT:  spike.token_attention

// NOTABLES: spikec: error: decompose: %r draws its random numbers itself (no uniform tables); only stochastic attention with U1 and U2 operands can be decomposed into Bernoulli ops
// UNKNOWN: spikec: error: decompose: cannot decompose ['lif']; compound ops are ssa, sdsa, token_attention, stochastic_attention, moe
