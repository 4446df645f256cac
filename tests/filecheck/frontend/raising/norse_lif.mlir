// Raising of the Norse LIFCell network export (dynamo and TorchScript): every layer is unrolled
// per timestep with shared weights; the steps roll into one time-major op each, each neuron into
// one spike.cuba_lif (the synaptic current, its second state, is recognised), and the sum of the
// per-step logits over time into one reduction.
// RUN: spikec import %samples/export/norse_lif.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/norse_lif.torchscript.onnx | filecheck %s
// RUN: spikec import %samples/export/norse_lif.dynamo.onnx | filecheck %s --check-prefix=NONE
// RUN: spikec import %samples/export/norse_lif.torchscript.onnx | filecheck %s --check-prefix=NONE

// CHECK:      func.func @main(%{{.*}}: tensor<4x64x1x8x8xf32> {spike.name = "x", spike.repeated})
// CHECK:      %[[L1:[^ ]+]] = spike.linear %{{.*}} {transpose_weight} : (tensor<4x64x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<4x64x64xf32>
// CHECK-NEXT: %[[S1:[^ ]+]] = spike.cuba_lif %[[L1]] {dt_tau_mem_inv = 1.000000e-01 : f32, dt_tau_syn_inv = 2.000000e-01 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x64x64xf32>) -> !spike.train<4x64x64>
// CHECK:      %[[L2:[^ ]+]] = spike.linear %[[S1]]
// CHECK:      %[[S2:[^ ]+]] = spike.cuba_lif %[[L2]]
// CHECK:      %[[L3:[^ ]+]] = spike.linear %[[S2]]
// CHECK-NEXT: spike.reduce_sum %[[L3]] {axes = array<i64: 0>, keepdims = false} : (tensor<4x64x10xf32>) -> tensor<64x10xf32>
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.concat
// NONE-NOT:   spike.lif
