// Import of the Xpikeformer-style sample: decay_input = false neurons, stochastic attention with
// its uniform tables as weights, LayerNorm on the feed-forward output.
// RUN: spikec import %samples/xpikeformer.onnx | filecheck %s

// CHECK:      spike.global @b0.attn.u1 : tensor<4x1x4x16x16xf32>
// CHECK:      %b0.attn.q_lif = spike.lif %b0.attn.q {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset hard>}
// CHECK:      %b0.attn.ssa = spike.stochastic_attention %b0.attn.q_lif, %b0.attn.k_lif, %b0.attn.v_lif, %b0.attn.u1, %b0.attn.u2 {heads = 4 : i64, c1 = 2.000000e+00 : f32, c2 = {{.*}} : f32, mask_diagonal = true, seed = 2 : i64, stream = 0 : i64}
// CHECK:      %b0.ff.fc1_lif = spike.lif %b0.ff.fc1 {tau = 1.200000e+00 : f32
// CHECK:      %b0.ff.norm = spike.layer_norm %b0.ff.fc2, %b0.ff.norm.scale, %b0.ff.norm.bias {epsilon = {{.*}} : f32}
// CHECK:      spike.stochastic_attention {{.*}} stream = 1 : i64
