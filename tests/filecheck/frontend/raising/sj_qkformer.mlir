// Raising of the SpikingJelly QKFormer export: every neuron is one spike.lif; stage 3's
// channel-major SSA becomes one spike.ssa (one token: N = 1), and the token attention of stages
// 1 and 2 (sum of Q over channels, LIF, gate K), which has no spike op, stays as it is.
// RUN: spikec import %samples/export/sj_qkformer.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_qkformer.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.lif
// CHECK:      %[[SUM:[^ ]+]] = spike.reduce_sum %{{.*}} {axes = array<i64: 3>, keepdims = true} : (!spike.train<4x64x1x8x4>) -> tensor<4x64x1x1x4xf32>
// CHECK-NEXT: %[[GATE:[^ ]+]] = spike.lif %[[SUM]] {{{.*}}v_threshold = 5.000000e-01 : f32{{.*}}}
// CHECK-NEXT: spike.mul %[[GATE]], %{{.*}} : (!spike.train<4x64x1x1x4>, !spike.train<4x64x1x8x4>) -> !spike.train<4x64x1x8x4>
// CHECK:      spike.reduce_sum
// CHECK:      %[[SSA:[^ ]+]] = spike.ssa %{{.*}}, %{{.*}}, %{{.*}} {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x64x1x32>, !spike.train<4x64x1x32>, !spike.train<4x64x1x32>) -> tensor<4x64x1x32xf32>
// CHECK-NEXT: spike.lif %[[SSA]] {{{.*}}v_threshold = 5.000000e-01 : f32{{.*}}} : (tensor<4x64x1x32xf32>) -> !spike.train<4x64x1x32>
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.matmul
// NONE-NOT:   spike.sdsa
