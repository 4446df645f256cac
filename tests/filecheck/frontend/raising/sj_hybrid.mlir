// A hybrid block (SpikingJelly LIF neurons for Q, K and V, real-valued softmax attention, a GELU
// and a ReLU MLP), both exporters: the four neurons are raised, the spike-by-spike product Q Kᵀ
// stays a dedicated matmul on spikes, and what has no spike op (Softmax, GELU's Erf, Relu) runs
// as generic ops; it is no SSA, since its attention map is not binary.
// RUN: spikec import %samples/export/sj_hybrid.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_hybrid.torchscript.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_hybrid.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK-COUNT-4: spike.lif %{{.*}} {tau = 2.000000e+00 : f32, {{.*}}} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK:      spike.matmul %{{.*}}, %{{.*}} : (!spike.train<4x64x2x8x16>, !spike.train<4x64x2x16x8>) -> tensor<4x64x2x8x8xf32>
// CHECK:      "spike.onnx_region"
// CHECK:      spike.matmul %{{.*}}, %{{.*}} : (tensor<4x64x2x8x8xf32>, !spike.train<4x64x2x8x16>)
// CHECK:      func.return

// NONE-NOT:   GreaterOrEqual
// NONE-NOT:   spike.ssa
