// Raising of the SpikingJelly QKFormer export: every neuron is one spike.lif; the Q-K token
// attention of stages 1 and 2 (the qk conv's spikes reshaped to [T, B, 2H, dh, N] and split into
// q and k, q summed over the channels of each head, a LIF with threshold 0.5, its spikes gating
// k) becomes one spike.token_attention on [T, B, N, D] (stage 1: one head of 8 channels over 4
// tokens; stage 2: two heads of 8 channels, one token), and stage 3's channel-major SSA one
// spike.ssa (one token: N = 1).
// RUN: spikec import %samples/export/sj_qkformer.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_qkformer.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.lif
// CHECK:      %[[Q1:[^ ]+]] = spike.reshape %{{.*}} {shape = array<i64: 4, 64, 4, 8>} : (!spike.train<4x64x4x1x8>) -> !spike.train<4x64x4x8>
// CHECK:      %[[K1:[^ ]+]] = spike.reshape %{{.*}} {shape = array<i64: 4, 64, 4, 8>} : (!spike.train<4x64x4x1x8>) -> !spike.train<4x64x4x8>
// CHECK-NEXT: %{{[^ ]+}} = spike.token_attention %[[Q1]], %[[K1]] {heads = 1 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x64x4x8>, !spike.train<4x64x4x8>) -> !spike.train<4x64x4x8>
// CHECK:      %[[Q2:[^ ]+]] = spike.reshape %{{.*}} {shape = array<i64: 4, 64, 1, 16>} : (!spike.train<4x64x1x2x8>) -> !spike.train<4x64x1x16>
// CHECK:      %[[K2:[^ ]+]] = spike.reshape %{{.*}} {shape = array<i64: 4, 64, 1, 16>} : (!spike.train<4x64x1x2x8>) -> !spike.train<4x64x1x16>
// CHECK-NEXT: %{{[^ ]+}} = spike.token_attention %[[Q2]], %[[K2]] {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32{{.*}}} : (!spike.train<4x64x1x16>, !spike.train<4x64x1x16>) -> !spike.train<4x64x1x16>
// CHECK:      %[[SSA:[^ ]+]] = spike.ssa %{{.*}}, %{{.*}}, %{{.*}} {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x64x1x32>, !spike.train<4x64x1x32>, !spike.train<4x64x1x32>) -> tensor<4x64x1x32xf32>
// CHECK-NEXT: spike.lif %[[SSA]] {{{.*}}v_threshold = 5.000000e-01 : f32{{.*}}} : (tensor<4x64x1x32xf32>) -> !spike.train<4x64x1x32>
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.reduce_sum
// NONE-NOT:   spike.mul
// NONE-NOT:   spike.matmul
// NONE-NOT:   spike.sdsa
