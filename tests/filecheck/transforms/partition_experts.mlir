// RUN: spikec opt %s --split-input-file -p 'partition-experts{units=2}' | filecheck %s
// RUN: not spikec opt %s --split-input-file -p 'partition-experts{units=4 policy=balanced}' 2>&1 | filecheck %s --check-prefix=REPLICA
// RUN: not spikec opt %s --split-input-file -p 'partition-experts{units=0}' 2>&1 | filecheck %s --check-prefix=ZERO

// Three experts on two units, a top-3 router (k = E): every token goes to every expert.
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @moe(%x: !spike.train<4x?x6x8>, %l: tensor<4x?x6x3xf32>, %w: tensor<8x8xf32>) -> tensor<4x?x6x8xf32> {
    %g = spike.route_topk %l {k = 3 : i64} : (tensor<4x?x6x3xf32>) -> !spike.train<4x?x6x3>
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%a: !spike.train<4x?x6x8>):
      %h = spike.linear %a, %w : (!spike.train<4x?x6x8>, tensor<8x8xf32>) -> tensor<4x?x6x8xf32>
      %s = spike.lif %h {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
      spike.yield %s : !spike.train<4x?x6x8>
    }, {
    ^bb0(%b: !spike.train<4x?x6x8>):
      %s2 = spike.if %b {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
      spike.yield %s2 : !spike.train<4x?x6x8>
    }, {
    ^bb0(%c: !spike.train<4x?x6x8>):
      %r = spike.reduce_max %c {axes = array<i64: 3>, keepdims = true} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x6x1>
      %y = spike.mul %c, %r : (!spike.train<4x?x6x8>, !spike.train<4x?x6x1>) -> !spike.train<4x?x6x8>
      spike.yield %y : !spike.train<4x?x6x8>
    }) : (!spike.train<4x?x6x8>, !spike.train<4x?x6x3>) -> tensor<4x?x6x8xf32>
    func.return %m : tensor<4x?x6x8xf32>
  }
}
// CHECK-LABEL: func.func @moe
// CHECK:       %g = spike.route_topk %l {k = 3 : i64}
// CHECK-NEXT:  %m.e0.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64, expert = 0 : i64}
// CHECK-NEXT:  %h = spike.linear %m.e0.in, %w {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64}
// CHECK-NEXT:  %s = spike.lif %h {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64
// CHECK-NEXT:  %m.e1.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 1>, spike.expert = 1 : i64, expert = 1 : i64}
// CHECK-NEXT:  %s2 = spike.if %m.e1.in {spike.unit = #spike.unit<expert 1>, spike.expert = 1 : i64
// CHECK-NEXT:  %m.e2.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 0>, spike.expert = 2 : i64, expert = 2 : i64}
// CHECK:       %m = spike.combine %g, %s, %s2, %y {spike.expert_units = array<i64: 0, 1, 0>} : (!spike.train<4x?x6x3>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> tensor<4x?x6x8xf32>
// CHECK-NOT:   spike.moe

// Four units for three experts: expert 0 is replicated over two units, each dispatched half of
// the tokens; the combine takes each replica's output on its tokens only.
// REPLICA-LABEL: func.func @moe
// REPLICA:       %m.e0.r0.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64, expert = 0 : i64, tokens = array<i64: 0, 3>}
// REPLICA:       %m.e0.r1.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 1>, spike.expert = 0 : i64, expert = 0 : i64, tokens = array<i64: 3, 6>}
// REPLICA:       %m.e1.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 2>
// REPLICA:       %m.e2.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 3>
// REPLICA:       %m = spike.combine %g, %s.r0, %s.r1, %s2, %y {spike.expert_units = array<i64: 0, 2, 3>, experts = array<i64: 0, 0, 1, 2>, tokens = array<i64: 0, 3, 3, 6, 0, 6, 0, 6>}

// -----
// One expert (E = 1) fed by a spike-gated router, replicated over four units.
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @single(%x: tensor<4x?x8x4xf32>) -> tensor<4x?x8x4xf32> {
    %g = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x8x4xf32>) -> !spike.train<4x?x8x4>
    %g1, %rest = spike.split %g {axis = 3 : i64, sizes = array<i64: 1, 3>} : (!spike.train<4x?x8x4>) -> (!spike.train<4x?x8x1>, !spike.train<4x?x8x3>)
    %m = "spike.moe"(%x, %g1) ({
    ^bb0(%a: tensor<4x?x8x4xf32>):
      %s = spike.lif %a {tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x8x4xf32>) -> !spike.train<4x?x8x4>
      spike.yield %s : !spike.train<4x?x8x4>
    }) : (tensor<4x?x8x4xf32>, !spike.train<4x?x8x1>) -> tensor<4x?x8x4xf32>
    func.return %m : tensor<4x?x8x4xf32>
  }
}
// CHECK-LABEL: func.func @single
// CHECK:       %m.e0.in = spike.dispatch %x, %g1
// CHECK:       %m = spike.combine %g1, %s {spike.expert_units = array<i64: 0>}
// REPLICA-LABEL: func.func @single
// REPLICA:       tokens = array<i64: 0, 2>
// REPLICA:       tokens = array<i64: 6, 8>
// REPLICA:       %m = spike.combine %g1, %s.r0, %s.r1, %s.r2, %s.r3 {spike.expert_units = array<i64: 0>, experts = array<i64: 0, 0, 0, 0>, tokens = array<i64: 0, 2, 2, 4, 4, 6, 6, 8>}

// -----
// An expert that mixes tokens cannot be replicated.
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @mixing(%x: !spike.train<4x?x6x8>, %g: !spike.train<4x?x6x1>) -> tensor<4x?x6x8xf32> {
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%a: !spike.train<4x?x6x8>):
      %t = spike.ssa %a, %a, %a {heads = 1 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> tensor<4x?x6x8xf32>
      spike.yield %t : tensor<4x?x6x8xf32>
    }) : (!spike.train<4x?x6x8>, !spike.train<4x?x6x1>) -> tensor<4x?x6x8xf32>
    func.return %m : tensor<4x?x6x8xf32>
  }
}
// CHECK-LABEL: func.func @mixing
// CHECK:       spike.ssa %m.e0.in
// REPLICA: spikec: error: partition-experts: cannot replicate expert 0 of m over 4 units: it mixes tokens (spike.ssa)

// ZERO: spikec: error: partition-experts: units must be >= 1, got 0
