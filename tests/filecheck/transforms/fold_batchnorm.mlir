// RUN: spikec opt %s --split-input-file -p 'fold-batchnorm,dce' | filecheck %s

// conv + batch norm on its channels: W' = W * s, b' = (b - mean) * s + beta, s = 2 / sqrt(3 + 1)
// = 1 for channel 0 and 0.5 / sqrt(0 + 1) = 0.5 for channel 1 (eps = 1).
builtin.module attributes {spike.timesteps = 2 : i64} {
  spike.global @w : tensor<2x1x1x1xf32> = dense<[[[[2.0]]], [[[4.0]]]]> : tensor<2x1x1x1xf32>
  spike.global @b : tensor<2xf32> = dense<[1.0, 2.0]> : tensor<2xf32>
  spike.global @gamma : tensor<2xf32> = dense<[2.0, 0.5]> : tensor<2xf32>
  spike.global @beta : tensor<2xf32> = dense<[0.25, 0.5]> : tensor<2xf32>
  spike.global @mean : tensor<2xf32> = dense<[1.0, 4.0]> : tensor<2xf32>
  spike.global @var : tensor<2xf32> = dense<[3.0, 0.0]> : tensor<2xf32>
  func.func @conv(%x: tensor<2x?x1x3x3xf32>) -> tensor<2x?x2x3x3xf32> {
    %w = spike.weight @w : tensor<2x1x1x1xf32>
    %b = spike.weight @b : tensor<2xf32>
    %c = spike.conv2d %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<2x?x1x3x3xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<2x?x2x3x3xf32>
    %g = spike.weight @gamma : tensor<2xf32>
    %be = spike.weight @beta : tensor<2xf32>
    %m = spike.weight @mean : tensor<2xf32>
    %v = spike.weight @var : tensor<2xf32>
    %n = spike.batch_norm %c, %g, %be, %m, %v {epsilon = 1.000000e+00 : f32, axis = 2 : i64} : (tensor<2x?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x?x2x3x3xf32>
    func.return %n : tensor<2x?x2x3x3xf32>
  }
}
// CHECK:      spike.global @w.bnfold : tensor<2x1x1x1xf32> = dense<2.000000e+00> : tensor<2x1x1x1xf32> {spike.derived}
// CHECK-NEXT: spike.global @n.bias.bnfold : tensor<2xf32> = dense<[2.500000e-01, -5.000000e-01]> : tensor<2xf32> {spike.derived}
// CHECK-NOT:  spike.global @gamma
// CHECK:      func.func @conv
// CHECK-NEXT:   %w.bnfold = spike.weight @w.bnfold
// CHECK-NEXT:   %n.bias.bnfold = spike.weight @n.bias.bnfold
// CHECK-NEXT:   %n = spike.conv2d %x, %w.bnfold, %n.bias.bnfold
// CHECK-NOT:    spike.batch_norm

// -----
// linear with a weight stored [D_out, D_in]; no bias.
builtin.module attributes {spike.timesteps = 2 : i64} {
  spike.global @w : tensor<2x2xf32> = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  spike.global @ones : tensor<2xf32> = dense<[1.0, 4.0]> : tensor<2xf32>
  spike.global @zeros : tensor<2xf32> = dense<[0.0, 0.0]> : tensor<2xf32>
  func.func @linear(%x: tensor<2x?x2xf32>) -> tensor<2x?x2xf32> {
    %w = spike.weight @w : tensor<2x2xf32>
    %y = spike.linear %x, %w {transpose_weight} : (tensor<2x?x2xf32>, tensor<2x2xf32>) -> tensor<2x?x2xf32>
    %o = spike.weight @ones : tensor<2xf32>
    %z = spike.weight @zeros : tensor<2xf32>
    %n = spike.batch_norm %y, %o, %z, %z, %o {epsilon = 0.000000e+00 : f32, axis = 2 : i64} : (tensor<2x?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x?x2xf32>
    func.return %n : tensor<2x?x2xf32>
  }
}
// s = [1, 4] / sqrt([1, 4]) = [1, 2], on the rows of the [D_out, D_in] weight.
// CHECK:      spike.global @w.bnfold : tensor<2x2xf32> = dense<{{\[\[}}1.000000e+00, 2.000000e+00], [6.000000e+00, 8.000000e+00]]> : tensor<2x2xf32> {spike.derived}
// CHECK:      %n = spike.linear %x, %w.bnfold, %n.bias.bnfold {transpose_weight}

// -----
// Not folded: the convolution's output has another user, or the norm is not on its channels.
builtin.module attributes {spike.timesteps = 2 : i64} {
  spike.global @w : tensor<2x2xf32> = dense<1.0> : tensor<2x2xf32>
  spike.global @p : tensor<2xf32> = dense<1.0> : tensor<2xf32>
  spike.global @q : tensor<3xf32> = dense<1.0> : tensor<3xf32>
  func.func @kept(%x: tensor<2x?x3x2xf32>) -> (tensor<2x?x3x2xf32>, tensor<2x?x3x2xf32>) {
    %w = spike.weight @w : tensor<2x2xf32>
    %y = spike.linear %x, %w : (tensor<2x?x3x2xf32>, tensor<2x2xf32>) -> tensor<2x?x3x2xf32>
    %p = spike.weight @p : tensor<2xf32>
    %n = spike.batch_norm %y, %p, %p, %p, %p {epsilon = 1.000000e+00 : f32, axis = 3 : i64} : (tensor<2x?x3x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x?x3x2xf32>
    %y2 = spike.linear %x, %w : (tensor<2x?x3x2xf32>, tensor<2x2xf32>) -> tensor<2x?x3x2xf32>
    %qq = spike.weight @q : tensor<3xf32>
    %n2 = spike.batch_norm %y2, %qq, %qq, %qq, %qq {epsilon = 1.000000e+00 : f32, axis = 2 : i64} : (tensor<2x?x3x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x?x3x2xf32>
    %s = spike.add %n, %y : (tensor<2x?x3x2xf32>, tensor<2x?x3x2xf32>) -> tensor<2x?x3x2xf32>
    func.return %s, %n2 : tensor<2x?x3x2xf32>, tensor<2x?x3x2xf32>
  }
}
// CHECK-LABEL: func.func @kept
// CHECK:       %n = spike.batch_norm %y
// CHECK:       %n2 = spike.batch_norm %y2
// CHECK-NOT:   bnfold
