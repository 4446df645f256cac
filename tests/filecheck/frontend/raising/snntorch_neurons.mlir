// snnTorch's Synaptic and a Leaky reset to zero, unrolled per step (both exporters): the
// Synaptic is one spike.leaky with its current's decay alpha, the Leaky after it one spike.leaky
// without; the input, computed on once before the loop, is repeated over T = 4.
// RUN: spikec import %samples/export/snntorch_neurons.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/snntorch_neurons.torchscript.onnx | filecheck %s

// CHECK:      func.func @main(%x: tensor<4x64x1x8x8xf32> {spike.name = "x", spike.repeated})
// CHECK:      spike.linear
// CHECK-NEXT: spike.leaky %{{.*}} {beta = 9.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>, alpha = 8.000000e-01 : f32} : (tensor<4x64x48xf32>) -> !spike.train<4x64x48>
// CHECK:      spike.linear
// CHECK-NEXT: spike.leaky %{{.*}} {beta = 8.500000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset zero>} : (tensor<4x64x48xf32>) -> !spike.train<4x64x48>
// CHECK-NOT:  spike.generic
// CHECK:      func.return
