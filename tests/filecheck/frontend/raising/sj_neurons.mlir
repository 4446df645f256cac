// Raising of SpikingJelly's other neuron families (multi-step IFNode, ParametricLIFNode, LIFNode
// with soft reset and with decay_input=False), exported by both exporters: each neuron is one
// spike op; the ParametricLIFNode's leak, a multiplication by sigmoid(w), is kept as `decay`
// (dividing by tau = 1/k would round differently), and no arithmetic of the steps is left.
// RUN: spikec import %samples/export/sj_neurons.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_neurons.torchscript.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_neurons.torchscript_opset20.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_neurons.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.if %{{.*}} {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>} : (tensor<4x64x48xf32>) -> !spike.train<4x64x48>
// CHECK:      spike.lif %{{.*}} {tau = 1.41093385 : f32, {{.*}}, decay_input = true, reset = #spike<reset hard>, decay = 0.708750427 : f32}
// CHECK:      spike.lif %{{.*}} {tau = 2.000000e+00 : f32, {{.*}}, decay_input = true, reset = #spike<reset soft>}
// CHECK:      spike.lif %{{.*}} {tau = 2.000000e+00 : f32, {{.*}}, decay_input = false, reset = #spike<reset hard>}
// CHECK:      func.return

// NONE-NOT:   GreaterOrEqual
// NONE-NOT:   onnx_region
