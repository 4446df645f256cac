// Every op of the spike dialect in its custom form: printing is stable (print -> parse -> print)
// and the generic form parses back to the same IR.
// RUN: spikec opt %s | filecheck %s
// RUN: spikec opt %s | spikec opt - | filecheck %s
// RUN: spikec opt %s --generic | spikec opt - | filecheck %s
// RUN: spikec opt %s --generic | filecheck %s --check-prefix=GENERIC

builtin.module attributes {spike.timesteps = 4 : i64} {
  spike.global @w : tensor<16x32xf32>
  spike.global @b : tensor<32xf32>
  spike.global @conv : tensor<8x3x3x3xf32>
  spike.global @bn : tensor<8xf32> = dense<1.000000e+00> : tensor<8xf32>
  spike.global @u : tensor<4x1x16xf32>
  spike.global @g16 : tensor<16xf32>
  spike.global @w4 : tensor<2x16xf32>
  spike.global @w5 : tensor<16x2xf32>
  func.func @main(%x: tensor<4x?x16xf32> {spike.name = "x"}, %img: tensor<4x?x3x8x8xf32>) -> (tensor<?x32xf32> {spike.name = "y"}) {
    %w = spike.weight @w : tensor<16x32xf32>
    %b = spike.weight @b : tensor<32xf32>
    %c = spike.constant dense<1.250000e-01> : tensor<f32>
    %g16 = spike.weight @g16 : tensor<16xf32>
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_if = spike.if %x {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset soft>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_leaky = spike.leaky %x {beta = 8.999999761581421e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset zero>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_cuba = spike.cuba_lif %x {dt_tau_mem_inv = 1.000000e-01 : f32, dt_tau_syn_inv = 2.000000e-01 : f32, v_leak = -2.500000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_box = spike.lif_box %x {dt_tau_mem_inv = 5.000000e-01 : f32, v_leak = -1.250000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_strict = spike.if %x {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>, strict} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_now = spike.leaky %x {beta = 5.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>, immediate_reset} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_th = spike.threshold %x {threshold = 2.500000e-01 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %s_late = spike.delay %s_box {steps = 2 : i64} : (!spike.train<4x?x16>) -> !spike.train<4x?x16>
    %x_late = spike.delay %x {steps = 0 : i64} : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
    %v_li = spike.li %s_late {dt_tau_mem_inv = 2.500000e-01 : f32, v_leak = -1.250000e-01 : f32} : (!spike.train<4x?x16>) -> tensor<4x?x16xf32>
    %v_int = spike.li %x {dt_tau_mem_inv = 5.000000e-01 : f32} : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
    %u = spike.weight @u : tensor<4x1x16xf32>
    %s_b = spike.bernoulli %x, %u {seed = 7 : i64, stream = 0 : i64} : (tensor<4x?x16xf32>, tensor<4x1x16xf32>) -> !spike.train<4x?x16>
    %s_b2 = spike.bernoulli %x {seed = 7 : i64, stream = 1 : i64} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
    %lin = spike.linear %s, %w, %b : (!spike.train<4x?x16>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<4x?x32xf32>
    %and = spike.mul %s, %s_if : (!spike.train<4x?x16>, !spike.train<4x?x16>) -> !spike.train<4x?x16>
    %sum = spike.add %s, %s_leaky : (!spike.train<4x?x16>, !spike.train<4x?x16>) -> tensor<4x?x16xf32>
    %w5 = spike.weight @w5 : tensor<16x2xf32>
    %sum2 = spike.linear %sum, %w5 : (tensor<4x?x16xf32>, tensor<16x2xf32>) -> tensor<4x?x2xf32>
    %g2 = spike.lif %sum2 {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x2xf32>) -> !spike.train<4x?x2>
    %diff = spike.sub %sum, %x : (tensor<4x?x16xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
    %scaled = spike.div %diff, %c : (tensor<4x?x16xf32>, tensor<f32>) -> tensor<4x?x16xf32>
    %ln = spike.layer_norm %scaled, %g16, %g16 {epsilon = 9.99999974E-6 : f32} : (tensor<4x?x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x?x16xf32>
    %conv = spike.weight @conv : tensor<8x3x3x3xf32>
    %y = spike.conv2d %img, %conv {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<4x?x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<4x?x8x8x8xf32>
    %bn = spike.weight @bn : tensor<8xf32>
    %yn = spike.batch_norm %y, %bn, %bn, %bn, %bn {epsilon = 9.99999974E-6 : f32, axis = 2 : i64} : (tensor<4x?x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x?x8x8x8xf32>
    %ys = spike.lif %yn {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset hard>} : (tensor<4x?x8x8x8xf32>) -> !spike.train<4x?x8x8x8>
    %mp = spike.maxpool %ys {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (!spike.train<4x?x8x8x8>) -> !spike.train<4x?x8x4x4>
    %ap = spike.avgpool %yn {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = false} : (tensor<4x?x8x8x8xf32>) -> tensor<4x?x8x8x8xf32>
    %tok = spike.reshape %mp {shape = array<i64: 4, -1, 8, 16>} : (!spike.train<4x?x8x4x4>) -> !spike.train<4x?x8x16>
    %tokt = spike.transpose %tok {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x8x16>) -> !spike.train<4x?x16x8>
    %cat = spike.concat %tokt, %tokt {axis = 3 : i64} : (!spike.train<4x?x16x8>, !spike.train<4x?x16x8>) -> !spike.train<4x?x16x16>
    %p0, %p1 = spike.split %cat {axis = 3 : i64, sizes = array<i64: 4, 12>} : (!spike.train<4x?x16x16>) -> (!spike.train<4x?x16x4>, !spike.train<4x?x16x12>)
    %mm = spike.matmul %tokt, %tok : (!spike.train<4x?x16x8>, !spike.train<4x?x8x16>) -> tensor<4x?x16x16xf32>
    %att = spike.ssa %cat, %cat, %cat {heads = 4 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> tensor<4x?x16x16xf32>
    %sdsa = spike.sdsa %cat, %cat, %cat {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
    %tok_att = spike.token_attention %cat, %cat {heads = 4 : i64, tau = 1.500000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset soft>} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
    %sto = spike.stochastic_attention %cat, %cat, %cat {heads = 4 : i64, c1 = 1.600000e+01 : f32, c2 = 1.600000e+01 : f32, mask_diagonal = true, seed = 3 : i64, stream = 2 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
    %r = spike.reduce_sum %att {axes = array<i64: 3>, keepdims = true} : (tensor<4x?x16x16xf32>) -> tensor<4x?x16x1xf32>
    %rmax = spike.reduce_max %sto {axes = array<i64: 2>, keepdims = false} : (!spike.train<4x?x16x16>) -> !spike.train<4x?x16>
    %w4 = spike.weight @w4 : tensor<2x16xf32>
    %logits = spike.linear %cat, %w4 {transpose_weight} : (!spike.train<4x?x16x16>, tensor<2x16xf32>) -> tensor<4x?x16x2xf32>
    %g = spike.route_topk %logits {k = 1 : i64} : (tensor<4x?x16x2xf32>) -> !spike.train<4x?x16x2>
    %d0 = spike.dispatch %cat, %g {expert = 0 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x2>) -> !spike.train<4x?x16x16>
    %d1 = spike.dispatch %cat, %g {expert = 1 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x2>) -> !spike.train<4x?x16x16>
    %comb = spike.combine %g, %d0, %d1 : (!spike.train<4x?x16x2>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
    %m = "spike.moe"(%sum, %g2) ({
    ^bb0(%e0: tensor<4x?x16xf32>):
      %f0 = spike.lif %e0 {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
      spike.yield %f0 : !spike.train<4x?x16>
    }, {
    ^bb0(%e1: tensor<4x?x16xf32>):
      %f1 = spike.if %e1 {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
      spike.yield %f1 : !spike.train<4x?x16>
    }) : (tensor<4x?x16xf32>, !spike.train<4x?x2>) -> tensor<4x?x16xf32>
    %mean = spike.reduce_mean %lin {axes = array<i64: 0>, keepdims = false} : (tensor<4x?x32xf32>) -> tensor<?x32xf32>
    func.return %mean : tensor<?x32xf32>
  }
}

// CHECK:      builtin.module attributes {spike.timesteps = 4 : i64} {
// CHECK-NEXT: spike.global @w : tensor<16x32xf32>
// CHECK-NEXT: spike.global @b : tensor<32xf32>
// CHECK-NEXT: spike.global @conv : tensor<8x3x3x3xf32>
// CHECK-NEXT: spike.global @bn : tensor<8xf32> = dense<1.000000e+00> : tensor<8xf32>
// CHECK-NEXT: spike.global @u : tensor<4x1x16xf32>
// CHECK-NEXT: spike.global @g16 : tensor<16xf32>
// CHECK-NEXT: spike.global @w4 : tensor<2x16xf32>
// CHECK-NEXT: spike.global @w5 : tensor<16x2xf32>
// CHECK-NEXT: func.func @main(%x: tensor<4x?x16xf32> {spike.name = "x"}, %img: tensor<4x?x3x8x8xf32>) -> (tensor<?x32xf32> {spike.name = "y"}) {
// CHECK-NEXT: %w = spike.weight @w : tensor<16x32xf32>
// CHECK-NEXT: %b = spike.weight @b : tensor<32xf32>
// CHECK-NEXT: %c = spike.constant dense<1.250000e-01> : tensor<f32>
// CHECK-NEXT: %g16 = spike.weight @g16 : tensor<16xf32>
// CHECK-NEXT: %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_if = spike.if %x {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset soft>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_leaky = spike.leaky %x {beta = 9.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset zero>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_cuba = spike.cuba_lif %x {dt_tau_mem_inv = 1.000000e-01 : f32, dt_tau_syn_inv = 2.000000e-01 : f32, v_leak = -2.500000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_box = spike.lif_box %x {dt_tau_mem_inv = 5.000000e-01 : f32, v_leak = -1.250000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_strict = spike.if %x {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>, strict} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_now = spike.leaky %x {beta = 5.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>, immediate_reset} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_th = spike.threshold %x {threshold = 2.500000e-01 : f32} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_late = spike.delay %s_box {steps = 2 : i64} : (!spike.train<4x?x16>) -> !spike.train<4x?x16>
// CHECK-NEXT: %x_late = spike.delay %x {steps = 0 : i64} : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %v_li = spike.li %s_late {dt_tau_mem_inv = 2.500000e-01 : f32, v_leak = -1.250000e-01 : f32} : (!spike.train<4x?x16>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %v_int = spike.li %x {dt_tau_mem_inv = 5.000000e-01 : f32} : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %u = spike.weight @u : tensor<4x1x16xf32>
// CHECK-NEXT: %s_b = spike.bernoulli %x, %u {seed = 7 : i64, stream = 0 : i64} : (tensor<4x?x16xf32>, tensor<4x1x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %s_b2 = spike.bernoulli %x {seed = 7 : i64, stream = 1 : i64} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: %lin = spike.linear %s, %w, %b : (!spike.train<4x?x16>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<4x?x32xf32>
// CHECK-NEXT: %and = spike.mul %s, %s_if : (!spike.train<4x?x16>, !spike.train<4x?x16>) -> !spike.train<4x?x16>
// CHECK-NEXT: %sum = spike.add %s, %s_leaky : (!spike.train<4x?x16>, !spike.train<4x?x16>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %w5 = spike.weight @w5 : tensor<16x2xf32>
// CHECK-NEXT: %sum2 = spike.linear %sum, %w5 : (tensor<4x?x16xf32>, tensor<16x2xf32>) -> tensor<4x?x2xf32>
// CHECK-NEXT: %g2 = spike.lif %sum2 {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x2xf32>) -> !spike.train<4x?x2>
// CHECK-NEXT: %diff = spike.sub %sum, %x : (tensor<4x?x16xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %scaled = spike.div %diff, %c : (tensor<4x?x16xf32>, tensor<f32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %ln = spike.layer_norm %scaled, %g16, %g16 {epsilon = 1.000000e-05 : f32} : (tensor<4x?x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %conv = spike.weight @conv : tensor<8x3x3x3xf32>
// CHECK-NEXT: %y = spike.conv2d %img, %conv {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<4x?x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<4x?x8x8x8xf32>
// CHECK-NEXT: %bn = spike.weight @bn : tensor<8xf32>
// CHECK-NEXT: %yn = spike.batch_norm %y, %bn, %bn, %bn, %bn {epsilon = 1.000000e-05 : f32, axis = 2 : i64} : (tensor<4x?x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x?x8x8x8xf32>
// CHECK-NEXT: %ys = spike.lif %yn {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset hard>} : (tensor<4x?x8x8x8xf32>) -> !spike.train<4x?x8x8x8>
// CHECK-NEXT: %mp = spike.maxpool %ys {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (!spike.train<4x?x8x8x8>) -> !spike.train<4x?x8x4x4>
// CHECK-NEXT: %ap = spike.avgpool %yn {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = false} : (tensor<4x?x8x8x8xf32>) -> tensor<4x?x8x8x8xf32>
// CHECK-NEXT: %tok = spike.reshape %mp {shape = array<i64: 4, -1, 8, 16>} : (!spike.train<4x?x8x4x4>) -> !spike.train<4x?x8x16>
// CHECK-NEXT: %tokt = spike.transpose %tok {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x8x16>) -> !spike.train<4x?x16x8>
// CHECK-NEXT: %cat = spike.concat %tokt, %tokt {axis = 3 : i64} : (!spike.train<4x?x16x8>, !spike.train<4x?x16x8>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %p0, %p1 = spike.split %cat {axis = 3 : i64, sizes = array<i64: 4, 12>} : (!spike.train<4x?x16x16>) -> (!spike.train<4x?x16x4>, !spike.train<4x?x16x12>)
// CHECK-NEXT: %mm = spike.matmul %tokt, %tok : (!spike.train<4x?x16x8>, !spike.train<4x?x8x16>) -> tensor<4x?x16x16xf32>
// CHECK-NEXT: %att = spike.ssa %cat, %cat, %cat {heads = 4 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> tensor<4x?x16x16xf32>
// CHECK-NEXT: %sdsa = spike.sdsa %cat, %cat, %cat {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %tok_att = spike.token_attention %cat, %cat {heads = 4 : i64, tau = 1.500000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset soft>} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %sto = spike.stochastic_attention %cat, %cat, %cat {heads = 4 : i64, c1 = 1.600000e+01 : f32, c2 = 1.600000e+01 : f32, mask_diagonal = true, seed = 3 : i64, stream = 2 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %r = spike.reduce_sum %att {axes = array<i64: 3>, keepdims = true} : (tensor<4x?x16x16xf32>) -> tensor<4x?x16x1xf32>
// CHECK-NEXT: %rmax = spike.reduce_max %sto {axes = array<i64: 2>, keepdims = false} : (!spike.train<4x?x16x16>) -> !spike.train<4x?x16>
// CHECK-NEXT: %w4 = spike.weight @w4 : tensor<2x16xf32>
// CHECK-NEXT: %logits = spike.linear %cat, %w4 {transpose_weight} : (!spike.train<4x?x16x16>, tensor<2x16xf32>) -> tensor<4x?x16x2xf32>
// CHECK-NEXT: %g = spike.route_topk %logits {k = 1 : i64} : (tensor<4x?x16x2xf32>) -> !spike.train<4x?x16x2>
// CHECK-NEXT: %d0 = spike.dispatch %cat, %g {expert = 0 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x2>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %d1 = spike.dispatch %cat, %g {expert = 1 : i64} : (!spike.train<4x?x16x16>, !spike.train<4x?x16x2>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %comb = spike.combine %g, %d0, %d1 : (!spike.train<4x?x16x2>, !spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
// CHECK-NEXT: %m = "spike.moe"(%sum, %g2) ({
// CHECK-NEXT: ^bb0(%e0: tensor<4x?x16xf32>):
// CHECK-NEXT: %f0 = spike.lif %e0 {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: spike.yield %f0 : !spike.train<4x?x16>
// CHECK-NEXT: }, {
// CHECK-NEXT: ^bb0(%e1: tensor<4x?x16xf32>):
// CHECK-NEXT: %f1 = spike.if %e1 {v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>} : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// CHECK-NEXT: spike.yield %f1 : !spike.train<4x?x16>
// CHECK-NEXT: }) : (tensor<4x?x16xf32>, !spike.train<4x?x2>) -> tensor<4x?x16xf32>
// CHECK-NEXT: %mean = spike.reduce_mean %lin {axes = array<i64: 0>, keepdims = false} : (tensor<4x?x32xf32>) -> tensor<?x32xf32>
// CHECK-NEXT: func.return %mean : tensor<?x32xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }

// GENERIC:      "spike.global"() <{sym_name = "w", type = tensor<16x32xf32>}> : () -> ()
// GENERIC:      %s = "spike.lif"(%x) <{tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC:      %s_cuba = "spike.cuba_lif"(%x) <{dt_tau_mem_inv = 1.000000e-01 : f32, dt_tau_syn_inv = 2.000000e-01 : f32, v_leak = -2.500000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %s_box = "spike.lif_box"(%x) <{dt_tau_mem_inv = 5.000000e-01 : f32, v_leak = -1.250000e-01 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %s_strict = "spike.if"(%x) <{v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>, strict}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %s_now = "spike.leaky"(%x) <{beta = 5.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>, immediate_reset}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %s_th = "spike.threshold"(%x) <{threshold = 2.500000e-01 : f32}> : (tensor<4x?x16xf32>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %s_late = "spike.delay"(%s_box) <{steps = 2 : i64}> : (!spike.train<4x?x16>) -> !spike.train<4x?x16>
// GENERIC-NEXT: %x_late = "spike.delay"(%x) <{steps = 0 : i64}> : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
// GENERIC-NEXT: %v_li = "spike.li"(%s_late) <{dt_tau_mem_inv = 2.500000e-01 : f32, v_leak = -1.250000e-01 : f32}> : (!spike.train<4x?x16>) -> tensor<4x?x16xf32>
// GENERIC-NEXT: %v_int = "spike.li"(%x) <{dt_tau_mem_inv = 5.000000e-01 : f32}> : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
// GENERIC:      %s_b = "spike.bernoulli"(%x, %u) <{seed = 7 : i64, stream = 0 : i64}>
// GENERIC:      %tok_att = "spike.token_attention"(%cat, %cat) <{heads = 4 : i64, tau = 1.500000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = false, reset = #spike<reset soft>}> : (!spike.train<4x?x16x16>, !spike.train<4x?x16x16>) -> !spike.train<4x?x16x16>
// GENERIC:      "spike.moe"(%sum, %g2) ({
// GENERIC:        "spike.yield"(%f0) : (!spike.train<4x?x16>) -> ()
