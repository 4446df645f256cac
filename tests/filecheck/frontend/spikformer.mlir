// Import of the Spikformer sample: SPS stem, SSA with residual sums of spikes, classifier head.
// The generic form round-trips to the same IR.
// RUN: spikec import %samples/spikformer.onnx | filecheck %s
// RUN: spikec import %samples/spikformer.onnx --generic | spikec opt - | filecheck %s

// CHECK:      %sps.residual = spike.add %sps.pool2, %sps.rpe_lif : (!spike.train<4x?x64x8x8>, !spike.train<4x?x64x8x8>) -> tensor<4x?x64x8x8xf32>
// CHECK:      %tokens = spike.transpose %tokens.flat {perm = array<i64: 0, 1, 3, 2>} : (tensor<4x?x64x64xf32>) -> tensor<4x?x64x64xf32>
// CHECK:      %b0.attn.ssa = spike.ssa %b0.attn.q_lif, %b0.attn.k_lif, %b0.attn.v_lif {heads = 4 : i64, scale = {{.*}} : f32} : (!spike.train<4x?x64x64>, !spike.train<4x?x64x64>, !spike.train<4x?x64x64>) -> tensor<4x?x64x64xf32>
// CHECK:      %b0.mlp.fc1 = spike.linear %b0.attn.residual, %b0.mlp.fc1.weight, %b0.mlp.fc1.bias : (tensor<4x?x64x64xf32>, tensor<64x256xf32>, tensor<256xf32>) -> tensor<4x?x64x256xf32>
// CHECK:      %head.fc = spike.linear %head.pool, %head.fc.weight, %head.fc.bias : (tensor<4x?x64xf32>, tensor<64x10xf32>, tensor<10xf32>) -> tensor<4x?x10xf32>
