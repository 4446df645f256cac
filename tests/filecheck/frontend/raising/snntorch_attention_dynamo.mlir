// Raising of the snnTorch attention export (dynamo): the per-step graph is rolled into time-major
// ops, every neuron is one spike.leaky, and the token-major attention (heads split by Reshape +
// Transpose, (Q Kᵀ) V * 0.125, heads merged back) becomes one spike.ssa on the neurons' own
// [T, B, N, D] spikes, with no layout op left around it.
// RUN: spikec import %samples/export/snntorch_attention.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/snntorch_attention.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.leaky
// CHECK:      %[[Q:[^ ]+]] = spike.leaky %{{.*}} {beta = 9.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK-NEXT: %[[K:[^ ]+]] = spike.leaky
// CHECK-NEXT: %[[V:[^ ]+]] = spike.leaky
// CHECK-NEXT: %[[Y:[^ ]+]] = spike.ssa %[[Q]], %[[K]], %[[V]] {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x64x8x32>, !spike.train<4x64x8x32>, !spike.train<4x64x8x32>) -> tensor<4x64x8x32xf32>
// CHECK-NEXT: spike.leaky %[[Y]] {{.*}} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK:      spike.leaky
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.matmul
// NONE-NOT:   spike.transpose
