// Raising of the SpikingJelly Spike-driven Transformer export: every neuron is one spike.lif, and
// `Q * LIF(sum_tokens(K * V))` on [T, B, H, N, dh] heads becomes one spike.sdsa on [T, B, N, D]
// operands with the LIF's parameters (v_threshold 0.5), its result put back into the layout the
// projection reads.
// RUN: spikec import %samples/export/sj_sdt.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_sdt.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.lif %{{.*}} : (tensor<4x64x4x8x8xf32>) -> !spike.train<4x64x4x8x8>
// CHECK:      %[[Q:[^ ]+]] = spike.transpose %{{.*}} {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x64x32x4>) -> !spike.train<4x64x4x32>
// CHECK:      %[[K:[^ ]+]] = spike.transpose %{{.*}} {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x64x32x4>) -> !spike.train<4x64x4x32>
// CHECK:      %[[V:[^ ]+]] = spike.transpose %{{.*}} {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x64x32x4>) -> !spike.train<4x64x4x32>
// CHECK-NEXT: %[[Y:[^ ]+]] = spike.sdsa %[[Q]], %[[K]], %[[V]] {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x64x4x32>, !spike.train<4x64x4x32>, !spike.train<4x64x4x32>) -> !spike.train<4x64x4x32>
// CHECK-NEXT: spike.reshape %[[Y]] {shape = array<i64: 4, 64, 4, 2, 16>}
// CHECK-NEXT: spike.transpose {{.*}} {perm = array<i64: 0, 1, 3, 4, 2>} : (!spike.train<4x64x4x2x16>) -> !spike.train<4x64x2x16x4>
// CHECK:      spike.lif
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.reduce_sum
// NONE-NOT:   spike.mul
// NONE-NOT:   spike.matmul
