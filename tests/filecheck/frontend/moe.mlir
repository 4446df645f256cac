// Import of the MoE sample: top-k routing and a spike-gated router, experts as regions of spike.moe.
// RUN: spikec import %samples/moe.onnx | filecheck %s
// RUN: spikec import %samples/moe.onnx | spikec opt - -p '' | filecheck %s

// CHECK:      builtin.module attributes {spike.timesteps = 4 : i64, spike.export_nodes = 97 : i64, spike.weights = "{{.*}}moe.onnx"} {
// CHECK:        spike.global @embed.weight : tensor<48x64xf32>
// CHECK:        func.func @main(%x: tensor<4x?x16x48xf32> {spike.name = "x"}) -> (tensor<?x10xf32> {spike.name = "logits"}) {
// CHECK:          %embed = spike.linear %x, %embed.weight, %embed.bias : (tensor<4x?x16x48xf32>, tensor<48x64xf32>, tensor<64xf32>) -> tensor<4x?x16x64xf32>
// CHECK-NEXT:     %embed_lif = spike.lif %embed {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x16x64xf32>) -> !spike.train<4x?x16x64>
// CHECK:          %b0.attn.ssa = spike.ssa %b0.attn.q_lif, %b0.attn.k_lif, %b0.attn.v_lif {heads = 8 : i64, scale = {{.*}} : f32}
// CHECK:          %b0.router.gates = spike.route_topk %b0.router {k = 2 : i64} : (tensor<4x?x16x4xf32>) -> !spike.train<4x?x16x4>
// CHECK-NEXT:     %b0.moe = "spike.moe"(%b0.attn.residual, %b0.router.gates) ({
// CHECK-NEXT:     ^bb0(%expert0_in: tensor<4x?x16x64xf32>):
// CHECK:            spike.yield %b0.moe.e0.fc2_lif : !spike.train<4x?x16x64>
// CHECK:          ^bb0(%expert3_in: tensor<4x?x16x64xf32>):
// CHECK:          }) : (tensor<4x?x16x64xf32>, !spike.train<4x?x16x4>) -> tensor<4x?x16x64xf32>
// CHECK:          %b1.router_lif = spike.lif %b1.router
// CHECK-NEXT:     %b1.moe = "spike.moe"(%b1.attn.residual, %b1.router_lif) ({
// CHECK:          %logits = spike.reduce_mean %head.fc {axes = array<i64: 0>, keepdims = false} : (tensor<4x?x10xf32>) -> tensor<?x10xf32>
// CHECK-NEXT:     func.return %logits : tensor<?x10xf32>
