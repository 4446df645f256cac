// Raising of the SpikingJelly Spikformer export: every neuron is one spike.lif, and the
// channel-major attention `(Vᵀ K) Qᵀ * 0.125` becomes one spike.ssa on [T, B, N, D] operands,
// with its LIF moved after it and the layout put back for the projection.
// RUN: spikec import %samples/export/sj_spikformer.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_spikformer.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.lif %{{.*}} : (tensor<4x64x4x8x8xf32>) -> !spike.train<4x64x4x8x8>
// CHECK:      %[[QKV:.*]] = spike.lif %{{.*}} : (tensor<4x64x96x4xf32>) -> !spike.train<4x64x96x4>
// CHECK:      spike.split
// CHECK:      %[[SSA:.*]] = spike.ssa %{{.*}}, %{{.*}}, %{{.*}} {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x64x4x32>, !spike.train<4x64x4x32>, !spike.train<4x64x4x32>) -> tensor<4x64x4x32xf32>
// CHECK-NEXT: spike.lif %[[SSA]] {{{.*}}v_threshold = 5.000000e-01 : f32{{.*}}} : (tensor<4x64x4x32xf32>) -> !spike.train<4x64x4x32>
// CHECK-NEXT: spike.reshape {{.*}} -> !spike.train<4x64x4x2x16>
// CHECK-NEXT: spike.transpose {{.*}} {perm = array<i64: 0, 1, 3, 4, 2>} : (!spike.train<4x64x4x2x16>) -> !spike.train<4x64x2x16x4>
// CHECK:      spike.lif
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.matmul
// NONE-NOT:   spike.mul
