// The same network exported with a dynamic batch (`x: [batch, 1, 8, 8]`): the neurons start from
// `full_like` states written as Expand/ConstantOfShape of a Shape, and each is still raised; the
// batch stays `?`. The input, flattened by `x.reshape(x.shape[0], -1)` (TorchScript: a shape
// computed from Shape(x); dynamo: [-1, 64]) and then repeated, is a repeated input.
// RUN: spikec import %samples/export/sj_neurons.dynamo_batch.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_neurons.torchscript_batch.onnx | filecheck %s

// CHECK:      func.func @main(%x: tensor<4x?x1x8x8xf32> {spike.name = "x", spike.repeated})
// CHECK-NOT:  onnx_region
// CHECK:      spike.if %{{.*}} : (tensor<4x?x48xf32>) -> !spike.train<4x?x48>
// CHECK:      spike.lif %{{.*}} decay = 0.708750427 : f32} : (tensor<4x?x48xf32>) -> !spike.train<4x?x48>
// CHECK:      spike.lif %{{.*}} reset = #spike<reset soft>} : (tensor<4x?x48xf32>)
// CHECK:      spike.lif %{{.*}} decay_input = false, reset = #spike<reset hard>} : (tensor<4x?x48xf32>)
// CHECK:      func.return
