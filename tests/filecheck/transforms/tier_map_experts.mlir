// RUN: spikec opt %s -p 'tier-map{tiers=2 mode=logic-on-logic}' | filecheck %s
// RUN: spikec opt %s -p 'partition-experts{units=3},tier-map{tiers=2 mode=logic-on-logic}' | filecheck %s --check-prefix=GIVEN
// RUN: spikec opt %s -p 'tier-map{tiers=1 mode=logic-on-logic}' | filecheck %s --check-prefix=PLANAR

// Three experts, none partitioned: a logic-on-logic map splits the spike.moe itself, one expert
// unit per tier, the experts round-robin over them.
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @moe(%x: !spike.train<4x?x6x8>, %l: tensor<4x?x6x3xf32>, %w: tensor<8x8xf32>) -> tensor<4x?x6x8xf32> {
    %g = spike.route_topk %l {k = 2 : i64} : (tensor<4x?x6x3xf32>) -> !spike.train<4x?x6x3>
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%a: !spike.train<4x?x6x8>):
      %h = spike.linear %a, %w : (!spike.train<4x?x6x8>, tensor<8x8xf32>) -> tensor<4x?x6x8xf32>
      spike.yield %h : tensor<4x?x6x8xf32>
    }, {
    ^bb0(%b: !spike.train<4x?x6x8>):
      %h2 = spike.linear %b, %w : (!spike.train<4x?x6x8>, tensor<8x8xf32>) -> tensor<4x?x6x8xf32>
      spike.yield %h2 : tensor<4x?x6x8xf32>
    }, {
    ^bb0(%c: !spike.train<4x?x6x8>):
      %h3 = spike.linear %c, %w : (!spike.train<4x?x6x8>, tensor<8x8xf32>) -> tensor<4x?x6x8xf32>
      spike.yield %h3 : tensor<4x?x6x8xf32>
    }) : (!spike.train<4x?x6x8>, !spike.train<4x?x6x3>) -> tensor<4x?x6x8xf32>
    func.return %m : tensor<4x?x6x8xf32>
  }
}

// CHECK-NOT:   spike.moe
// CHECK:       %m.e0.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64, spike.tier = 0 : i64
// CHECK-NEXT:  %h = spike.linear %m.e0.in, %w {spike.unit = #spike.unit<expert 0>, spike.expert = 0 : i64, spike.tier = 0 : i64
// CHECK-NEXT:  %m.e1.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 1>, spike.expert = 1 : i64, spike.tier = 1 : i64
// CHECK-NEXT:  %h2 = spike.linear %m.e1.in, %w {spike.unit = #spike.unit<expert 1>, spike.expert = 1 : i64, spike.tier = 1 : i64
// CHECK-NEXT:  %m.e2.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 0>, spike.expert = 2 : i64, spike.tier = 0 : i64
// CHECK:       %m = spike.combine %g, %h, %h2, %h3 {spike.expert_units = array<i64: 0, 1, 0>

// Experts partitioned already (three units): tier-map keeps that assignment.
// GIVEN:       %m.e2.in = spike.dispatch %x, %g {spike.unit = #spike.unit<expert 2>, spike.expert = 2 : i64, spike.tier = 0 : i64
// GIVEN:       spike.combine {{.*}}spike.expert_units = array<i64: 0, 1, 2>

// One tier: nothing to spread, the spike.moe stays whole.
// PLANAR:      "spike.moe"
// PLANAR:      spike.linear {{.*}}spike.tier = 0 : i64
