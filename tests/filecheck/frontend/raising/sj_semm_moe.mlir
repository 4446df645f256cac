// Raising of the SEMM-style spike-gated MoE export (SpikingJelly LIF router, Linear experts): the
// router's LIF spikes gate the experts per token and timestep, and the densely applied experts,
// stacked on an expert axis, weighted by the gates and summed by ReduceSum, become one spike.moe
// whose gates are those spikes (each expert sees its routed tokens only); a LIF reads the sum.
// RUN: spikec import %samples/export/sj_semm_moe.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_semm_moe.dynamo.onnx | filecheck %s --check-prefix=NONE

// CHECK:      %[[S:[^ ]+]] = spike.lif %{{.*}} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK:      spike.linear %[[S]], %{{.*}} : (!spike.train<4x64x8x32>, tensor<32x4xf32>, tensor<4xf32>) -> tensor<4x64x8x4xf32>
// CHECK-NEXT: %[[G:[^ ]+]] = spike.lif %{{.*}} : (tensor<4x64x8x4xf32>) -> !spike.train<4x64x8x4>
// CHECK-NEXT: %[[Y:[^ ]+]] = "spike.moe"(%[[S]], %[[G]]) ({
// CHECK-COUNT-4: spike.linear %expert{{[0-3]}}_in
// CHECK:      }) : (!spike.train<4x64x8x32>, !spike.train<4x64x8x4>) -> tensor<4x64x8x32xf32>
// CHECK-NEXT: spike.lif %[[Y]] {{.*}} : (tensor<4x64x8x32xf32>) -> !spike.train<4x64x8x32>
// CHECK:      func.return

// NONE-NOT:   Greater
// NONE-NOT:   spike.reduce_sum
// NONE-NOT:   spike.concat
// NONE-NOT:   spike.mul
