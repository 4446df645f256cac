// Import of the Spike-driven Transformer sample: convolutions on time folded into the batch
// (no reshape op for the folding), max-pooling on spikes and on membranes, SDSA, membrane shortcuts.
// RUN: spikec import %samples/sdt.onnx | filecheck %s

// CHECK:      func.func @main(%x: tensor<4x?x3x32x32xf32> {spike.name = "x"})
// CHECK-NEXT:   %sps.conv0.weight = spike.weight @sps.conv0.weight : tensor<8x3x3x3xf32>
// CHECK-NEXT:   %sps.conv0.conv = spike.conv2d %x, %sps.conv0.weight {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<4x?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<4x?x8x32x32xf32>
// CHECK:        %sps.conv0 = spike.batch_norm %sps.conv0.conv, {{.*}} {epsilon = {{.*}} : f32, axis = 2 : i64}
// CHECK-NEXT:   %sps.conv0_lif = spike.lif %sps.conv0
// CHECK:        %sps.pool2 = spike.maxpool %sps.conv2_lif {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (!spike.train<4x?x32x32x32>) -> !spike.train<4x?x32x16x16>
// CHECK:        %sps.pool3 = spike.maxpool %sps.conv3 {{.*}} : (tensor<4x?x64x16x16xf32>) -> tensor<4x?x64x8x8xf32>
// CHECK:        %sps.shortcut = spike.add %sps.rpe, %sps.pool3 : (tensor<4x?x64x8x8xf32>, tensor<4x?x64x8x8xf32>) -> tensor<4x?x64x8x8xf32>
// CHECK:        %b0.attn.sdsa = spike.sdsa %b0.attn.q_lif, %b0.attn.k_lif, %b0.attn.v_lif {heads = 4 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x64x64>, !spike.train<4x?x64x64>, !spike.train<4x?x64x64>) -> !spike.train<4x?x64x64>
// CHECK:        %b0.attn.shortcut = spike.add %tokens, %b0.attn.proj : (tensor<4x?x64x64xf32>, tensor<4x?x64x64xf32>) -> tensor<4x?x64x64xf32>
// CHECK:        %head_lif = spike.lif %head.pool
