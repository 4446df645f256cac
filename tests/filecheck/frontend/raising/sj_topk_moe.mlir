// Raising of the top-k MoE export (SpikingJelly LIF experts): the router
// ScatterElements(0, TopK(Softmax(L))) on time-averaged spikes becomes spike.route_topk with
// softmax-weighted gates, and the four densely applied, gate-weighted experts one spike.moe
// (each expert sees its routed tokens only).
// RUN: spikec import %samples/export/sj_topk_moe.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_topk_moe.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      %[[S:[^ ]+]] = spike.lif %{{.*}} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK:      spike.reduce_mean %[[S]] {axes = array<i64: 0>, keepdims = false}
// CHECK:      %[[G:[^ ]+]] = spike.route_topk %{{.*}} {k = 2 : i64, softmax = true} : (tensor<64x8x4xf32>) -> tensor<64x8x4xf32>
// CHECK:      "spike.moe"(%[[S]], %[[G]])
// CHECK-COUNT-4: spike.lif
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.mul
