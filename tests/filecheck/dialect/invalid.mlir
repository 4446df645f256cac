// Verifier errors: each section is one invalid module; every one must be reported with its line.
// RUN: not spikec opt %s --split-input-file 2>&1 | filecheck %s

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x2x8xf32>) -> !spike.train<4x2x9>
    func.return
  }
}
// CHECK: invalid.mlir:6:5: spike.lif: output 4x2x9 must have the input's shape 4x2x8

// -----
builtin.module attributes {spike.timesteps = 8 : i64} {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: invalid.mlir:15:5: spike.lif: input has T = 4 but the module runs T = 8 steps

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x {tau = -2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.lif: tau must be > 0

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.leaky %x {beta = 1.500000e+00 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset subtract>} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.leaky: beta must be in [0, 1], got 1.5

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.cuba_lif %x {dt_tau_mem_inv = 0.000000e+00 : f32, dt_tau_syn_inv = 2.000000e-01 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.cuba_lif: dt_tau_mem_inv must be > 0, got 0.0

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.cuba_lif %x {dt_tau_mem_inv = 1.000000e-01 : f32, dt_tau_syn_inv = -5.000000e-01 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.cuba_lif: dt_tau_syn_inv must be >= 0, got -0.5

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>, %u: tensor<4x2x3xf32>) {
    %s = spike.bernoulli %x, %u {seed = 0 : i64, stream = 0 : i64} : (tensor<4x2x8xf32>, tensor<4x2x3xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.bernoulli: {{.*}}do not broadcast

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>, %w: tensor<16x4xf32>) {
    %y = spike.linear %x, %w : (tensor<4x2x8xf32>, tensor<16x4xf32>) -> tensor<4x2x4xf32>
    func.return
  }
}
// CHECK: spike.linear: input 4x2x8 has 8 features, the weight 16x4 expects 16

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>) {
    %y = spike.linear %x, %w, %b : (tensor<4x2x8xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<4x2x4xf32>
    func.return
  }
}
// CHECK: spike.linear: bias must be [4], got 8

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x6x8x8xf32>, %w: tensor<4x4x3x3xf32>) {
    %y = spike.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<4x2x6x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<4x2x4x8x8xf32>
    func.return
  }
}
// CHECK: spike.conv2d: weight 4x4x3x3 expects 4 input channels, the input has 6

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x6x8x8>) {
    %y = spike.maxpool %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (!spike.train<4x2x6x8x8>) -> tensor<4x2x6x4x4xf32>
    func.return
  }
}
// CHECK: spike.maxpool: result must be spikes exactly when the input is

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x6x8x8xf32>) {
    %y = spike.maxpool %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 2, 0, 0, 0>} : (tensor<4x2x6x8x8xf32>) -> tensor<4x2x6x5x4xf32>
    func.return
  }
}
// CHECK: spike.maxpool: padding must be smaller than the kernel

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x?x8x16>) {
    %y = spike.reshape %x {shape = array<i64: 4, -1, 8, 15>} : (!spike.train<4x?x8x16>) -> !spike.train<4x?x8x15>
    func.return
  }
}
// CHECK: spike.reshape: cannot reshape 4x?x8x16 into [4, -1, 8, 15]

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>) {
    %y = spike.transpose %x {perm = array<i64: 1, 0, 2, 3>} : (!spike.train<4x2x8x16>) -> !spike.train<2x4x8x16>
    func.return
  }
}
// CHECK: spike.transpose: a spike train keeps its time and batch axes [T, B] in front

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>, %y: !spike.train<4x2x9x16>) {
    %z = spike.concat %x, %y {axis = 3 : i64} : (!spike.train<4x2x8x16>, !spike.train<4x2x9x16>) -> !spike.train<4x2x8x32>
    func.return
  }
}
// CHECK: spike.concat: 4x2x9x16 does not match 4x2x8x16 outside axis 3

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>) {
    %a, %b = spike.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : (!spike.train<4x2x8x16>) -> (!spike.train<4x2x8x4>, !spike.train<4x2x8x4>)
    func.return
  }
}
// CHECK: spike.split: sizes [4, 4] do not add up to axis 3 of 4x2x8x16

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>) {
    %y = spike.ssa %q, %q, %q {heads = 3 : i64, scale = 1.250000e-01 : f32} : (!spike.train<4x2x8x16>, !spike.train<4x2x8x16>, !spike.train<4x2x8x16>) -> tensor<4x2x8x16xf32>
    func.return
  }
}
// CHECK: spike.ssa: heads = 3 must be >= 1 and divide D = 16

// -----
builtin.module {
  func.func @f(%q: tensor<4x2x8x16xf32>) {
    %y = spike.ssa %q, %q, %q {heads = 4 : i64, scale = 1.250000e-01 : f32} : (tensor<4x2x8x16xf32>, tensor<4x2x8x16xf32>, tensor<4x2x8x16xf32>) -> tensor<4x2x8x16xf32>
    func.return
  }
}
// CHECK: spike.ssa: expected a spike train (dense or encoded), got tensor<4x2x8x16xf32>

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>) {
    %y = spike.token_attention %q, %q {heads = 3 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x2x8x16>, !spike.train<4x2x8x16>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.token_attention: heads = 3 must be >= 1 and divide D = 16

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>, %k: !spike.train<4x2x6x16>) {
    %y = spike.token_attention %q, %k {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x2x8x16>, !spike.train<4x2x6x16>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.token_attention: K 4x2x6x16 must have Q's shape 4x2x8x16 (each token masks its own K)

// -----
builtin.module {
  func.func @f(%q: tensor<4x2x8x16xf32>, %k: !spike.train<4x2x8x16>) {
    %y = spike.token_attention %q, %k {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x2x8x16xf32>, !spike.train<4x2x8x16>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.token_attention: expected a spike train (dense or encoded), got tensor<4x2x8x16xf32>

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>) {
    %y = spike.token_attention %q, %q {heads = 2 : i64, tau = 0.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x2x8x16>, !spike.train<4x2x8x16>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.token_attention: tau must be > 0

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>) {
    %y = spike.token_attention %q, %q {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x2x8x16>, !spike.train<4x2x8x16>) -> tensor<4x2x8x16xf32>
    func.return
  }
}
// CHECK: spike.token_attention: tensor<4x2x8x16xf32> should be of base attribute spike.train

// -----
builtin.module {
  func.func @f(%q: !spike.train<4x2x8x16>, %u: tensor<4x1x4x8x8xf32>) {
    %y = spike.stochastic_attention %q, %q, %q, %u {heads = 4 : i64, c1 = 1.600000e+01 : f32, c2 = 1.600000e+01 : f32, mask_diagonal = true, seed = 0 : i64, stream = 0 : i64} : (!spike.train<4x2x8x16>, !spike.train<4x2x8x16>, !spike.train<4x2x8x16>, tensor<4x1x4x8x8xf32>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.stochastic_attention takes no uniform tables or exactly two (U1, U2)

// -----
builtin.module {
  func.func @f(%l: tensor<4x2x8x4xf32>) {
    %g = spike.route_topk %l {k = 5 : i64} : (tensor<4x2x8x4xf32>) -> !spike.train<4x2x8x4>
    func.return
  }
}
// CHECK: spike.route_topk: k = 5 must be in [1, E = 4]

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>, %g: !spike.train<4x2x8x3>) {
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%e0: !spike.train<4x2x8x16>):
      spike.yield %e0 : !spike.train<4x2x8x16>
    }, {
    ^bb0(%e1: !spike.train<4x2x8x16>):
      spike.yield %e1 : !spike.train<4x2x8x16>
    }) : (!spike.train<4x2x8x16>, !spike.train<4x2x8x3>) -> tensor<4x2x8x16xf32>
    func.return
  }
}
// CHECK: spike.moe: gates route to 3 experts but there are 2 expert regions

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>, %l: tensor<4x2x8x2xf32>) {
    %g = spike.route_topk %l {k = 2 : i64} : (tensor<4x2x8x2xf32>) -> !spike.train<4x2x8x2>
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%e0: !spike.train<4x2x8x16>):
      spike.yield %e0 : !spike.train<4x2x8x16>
    }, {
    ^bb0(%e1: !spike.train<4x2x8x16>):
      spike.yield %e1 : !spike.train<4x2x8x16>
    }) : (!spike.train<4x2x8x16>, !spike.train<4x2x8x2>) -> !spike.train<4x2x8x16>
    func.return
  }
}
// CHECK: spike.moe: the output can be spikes only with a top-1 router and experts that yield spikes

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>, %g: !spike.train<4x2x8x2>) {
    %y = spike.combine %g, %x : (!spike.train<4x2x8x2>, !spike.train<4x2x8x16>) -> tensor<4x2x8x16xf32>
    func.return
  }
}
// CHECK: spike.combine: 1 expert outputs for 2 experts

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8x16>) {
    spike.yield %x : !spike.train<4x2x8x16>
  }
}
// CHECK: 'spike.yield' expects parent op 'spike.moe'

// -----
builtin.module {
  func.func @f() {
    %w = spike.weight @missing : tensor<4xf32>
    func.return
  }
}
// CHECK: spike.weight: no spike.global named @missing

// -----
builtin.module {
  spike.global @w : tensor<8xf32>
  func.func @f() {
    %w = spike.weight @w : tensor<4xf32>
    func.return
  }
}
// CHECK: spike.weight @w: result type tensor<4xf32> does not match the global's type tensor<8xf32>

// -----
builtin.module {
  spike.global @w : tensor<2xf32> = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
}
// CHECK: spike.global @w: inline value has type tensor<3xf32>, declared tensor<2xf32>

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>, %s: tensor<8xf32>) {
    %y = spike.batch_norm %x, %s, %s, %s, %s {epsilon = 1.000000e-05 : f32, axis = 3 : i64} : (tensor<4x2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x2x8xf32>
    func.return
  }
}
// CHECK: spike.batch_norm: axis 3 out of range for 4x2x8

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8>, %y: !spike.train<4x2x8>) {
    %z = spike.add %x, %y : (!spike.train<4x2x8>, !spike.train<4x2x8>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.add: the result must be real

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>, %y: tensor<4x3x8xf32>) {
    %z = spike.mul %x, %y : (tensor<4x2x8xf32>, tensor<4x3x8xf32>) -> tensor<4x2x8xf32>
    func.return
  }
}
// CHECK: shapes 4x2x8 and 4x3x8 do not broadcast

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif_box %x {dt_tau_mem_inv = 0.000000e+00 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.lif_box: dt_tau_mem_inv must be > 0, got 0.0

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %v = spike.li %x {dt_tau_mem_inv = -5.000000e-01 : f32, v_leak = 0.000000e+00 : f32} : (tensor<4x2x8xf32>) -> tensor<4x2x8xf32>
    func.return
  }
}
// CHECK: spike.li: dt_tau_mem_inv must be > 0, got -0.5

// -----
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @f(%x: tensor<6x2x8xf32>) {
    %v = spike.li %x {dt_tau_mem_inv = 5.000000e-01 : f32} : (tensor<6x2x8xf32>) -> tensor<6x2x8xf32>
    func.return
  }
}
// CHECK: spike.li: input has T = 6 but the module runs T = 4 steps

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %v = spike.li %x {dt_tau_mem_inv = 5.000000e-01 : f32} : (tensor<4x2x8xf32>) -> tensor<4x2x9xf32>
    func.return
  }
}
// CHECK: spike.li: output 4x2x9 must have the input's shape 4x2x8

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8>) {
    %y = spike.delay %x {steps = -1 : i64} : (!spike.train<4x2x8>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.delay: steps must be >= 0, got -1

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x8>) {
    %y = spike.delay %x {steps = 1 : i64} : (!spike.train<4x2x8>) -> tensor<4x2x8xf32>
    func.return
  }
}
// CHECK: spike.delay: the result must be a spike train, as its input is

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %y = spike.delay %x {steps = 1 : i64} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: spike.delay: the result must be real, as its input is

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %y = spike.threshold %x {threshold = 5.000000e-01 : f32} : (tensor<4x2x8xf32>) -> !spike.train<4x2x9>
    func.return
  }
}
// CHECK: spike.threshold: output 4x2x9 must have the input's shape 4x2x8

// CHECK: spikec: error: {{.*}}invalid.mlir: 43 of the input's sections failed
