// The Spikformer exported with a dynamic batch: the SSA's operands go through Reshapes whose
// target infers the batch (`[4, -1, 6, 16, 4]`), which shape inference names afresh on each
// side; the batch stays `?` and the attention is still one spike.ssa.
// RUN: spikec import %samples/export/sj_spikformer.dynamo_batch.onnx | filecheck %s

// CHECK:      func.func @main(%x: tensor<4x?x1x8x8xf32> {spike.name = "x", spike.repeated}) -> (tensor<?x10xf32> {spike.name = "logits"})
// CHECK:      spike.lif %{{.*}} : (tensor<4x?x96x4xf32>) -> !spike.train<4x?x96x4>
// CHECK:      %[[SSA:.*]] = spike.ssa %{{.*}}, %{{.*}}, %{{.*}} {heads = 2 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x4x32>, !spike.train<4x?x4x32>, !spike.train<4x?x4x32>) -> tensor<4x?x4x32xf32>
// CHECK-NEXT: spike.lif %[[SSA]] {{{.*}}v_threshold = 5.000000e-01 : f32{{.*}}} : (tensor<4x?x4x32xf32>) -> !spike.train<4x?x4x32>
// CHECK-NOT:  spike.generic
// CHECK:      func.return
