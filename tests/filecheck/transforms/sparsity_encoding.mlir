// RUN: spikec opt %s --split-input-file -p 'sparsity-encoding{stats=true}' 2>%t.stats | filecheck %s
// RUN: filecheck %s --check-prefix=STATS < %t.stats
// RUN: spikec opt %s --split-input-file -p 'sparsity-encoding{consumers=linear producers=lif}' | filecheck %s --check-prefix=LINEAR
// RUN: not spikec opt %s -p 'sparsity-encoding{consumers=linear,fft}' 2>&1 | filecheck %s --check-prefix=BAD

// A neuron whose only consumer reads addresses emits them itself.
builtin.module {
  func.func @neuron_to_linear(%x: tensor<4x?x8x16xf32>, %w: tensor<16x4xf32>) -> tensor<4x?x8x4xf32> {
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x8x16xf32>) -> !spike.train<4x?x8x16>
    %y = spike.linear %s, %w : (!spike.train<4x?x8x16>, tensor<16x4xf32>) -> tensor<4x?x8x4xf32>
    func.return %y : tensor<4x?x8x4xf32>
  }
}
// CHECK-LABEL: func.func @neuron_to_linear
// CHECK-NEXT:    %s = spike.lif %x {{.*}} : (tensor<4x?x8x16xf32>) -> !spike.encoded<addr 4x?x8 : 16>
// CHECK-NEXT:    %y = spike.linear %s, %w : (!spike.encoded<addr 4x?x8 : 16>, tensor<16x4xf32>) -> tensor<4x?x8x4xf32>
// LINEAR-LABEL: func.func @neuron_to_linear
// LINEAR-NEXT:    %s = spike.lif %x {{.*}} -> !spike.encoded<addr 4x?x8 : 16>

// -----
// Mixed consumers: the neuron still emits addresses, and one decode serves the dense consumers.
builtin.module {
  func.func @mixed(%x: tensor<4x?x8x16xf32>, %w: tensor<16x4xf32>) -> (tensor<4x?x8x4xf32>, !spike.train<4x?x128>) {
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x8x16xf32>) -> !spike.train<4x?x8x16>
    %y = spike.linear %s, %w : (!spike.train<4x?x8x16>, tensor<16x4xf32>) -> tensor<4x?x8x4xf32>
    %r = spike.reshape %s {shape = array<i64: 4, -1, 128>} : (!spike.train<4x?x8x16>) -> !spike.train<4x?x128>
    func.return %y, %r : tensor<4x?x8x4xf32>, !spike.train<4x?x128>
  }
}
// CHECK-LABEL: func.func @mixed
// CHECK-NEXT:    %s = spike.lif %x {{.*}} -> !spike.encoded<addr 4x?x8 : 16>
// CHECK-NEXT:    %s_dense = spike.decode %s : !spike.encoded<addr 4x?x8 : 16> -> !spike.train<4x?x8x16>
// CHECK-NEXT:    %y = spike.linear %s, %w
// CHECK-NEXT:    %r = spike.reshape %s_dense

// -----
// A producer that cannot emit addresses (max-pooling) gets an encoder; spatial consumers read
// one address list per item over [C, H, W].
builtin.module {
  func.func @pool_to_conv(%s: !spike.train<4x?x2x8x8>, %w: tensor<3x2x3x3xf32>) -> tensor<4x?x3x4x4xf32> {
    %p = spike.maxpool %s {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (!spike.train<4x?x2x8x8>) -> !spike.train<4x?x2x4x4>
    %y = spike.conv2d %p, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (!spike.train<4x?x2x4x4>, tensor<3x2x3x3xf32>) -> tensor<4x?x3x4x4xf32>
    func.return %y : tensor<4x?x3x4x4xf32>
  }
}
// CHECK-LABEL: func.func @pool_to_conv
// CHECK-NEXT:    %s_addr = spike.encode %s : !spike.train<4x?x2x8x8> -> !spike.encoded<addr 4x? : 2x8x8>
// CHECK-NEXT:    %p = spike.maxpool %s_addr {{.*}} : (!spike.encoded<addr 4x? : 2x8x8>) -> !spike.train<4x?x2x4x4>
// CHECK-NEXT:    %p_addr = spike.encode %p : !spike.train<4x?x2x4x4> -> !spike.encoded<addr 4x? : 2x4x4>
// CHECK-NEXT:    %y = spike.conv2d %p_addr, %w
// LINEAR-LABEL: func.func @pool_to_conv
// LINEAR-NOT:    spike.encode

// -----
// Attention reads encoded Q, K, V (token attention Q and K); a value returned by the function
// stays dense.
builtin.module {
  func.func @attention(%x: tensor<4x?x8x16xf32>) -> (!spike.train<4x?x8x16>, !spike.train<4x?x8x16>, !spike.train<4x?x8x16>) {
    %q = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x8x16xf32>) -> !spike.train<4x?x8x16>
    %a = spike.sdsa %q, %q, %q {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x8x16>, !spike.train<4x?x8x16>, !spike.train<4x?x8x16>) -> !spike.train<4x?x8x16>
    %t = spike.token_attention %q, %q {heads = 2 : i64, tau = 2.000000e+00 : f32, v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset hard>} : (!spike.train<4x?x8x16>, !spike.train<4x?x8x16>) -> !spike.train<4x?x8x16>
    func.return %a, %t, %q : !spike.train<4x?x8x16>, !spike.train<4x?x8x16>, !spike.train<4x?x8x16>
  }
}
// CHECK-LABEL: func.func @attention
// CHECK-NEXT:    %q = spike.lif %x {{.*}} -> !spike.encoded<addr 4x?x8 : 16>
// CHECK-NEXT:    %q_dense = spike.decode %q
// CHECK-NEXT:    %a = spike.sdsa %q, %q, %q {{.*}} : (!spike.encoded<addr 4x?x8 : 16>, !spike.encoded<addr 4x?x8 : 16>, !spike.encoded<addr 4x?x8 : 16>) -> !spike.train<4x?x8x16>
// CHECK-NEXT:    %t = spike.token_attention %q, %q {{.*}} : (!spike.encoded<addr 4x?x8 : 16>, !spike.encoded<addr 4x?x8 : 16>) -> !spike.train<4x?x8x16>
// CHECK-NEXT:    func.return %a, %t, %q_dense
// LINEAR-LABEL: func.func @attention
// LINEAR-NOT:    spike.encode

// STATS:      sparsity-encoding: 1 spike tensors encoded (1 by their neuron, 0 by spike.encode); 0 decodes forced
// STATS:      sparsity-encoding: 1 spike tensors encoded (1 by their neuron, 0 by spike.encode); 1 decodes forced
// STATS-NEXT:   decode forced: %s (spike.lif) for reshape
// STATS:      sparsity-encoding: 2 spike tensors encoded (0 by their neuron, 2 by spike.encode); 0 decodes forced
// STATS:      sparsity-encoding: 1 spike tensors encoded (1 by their neuron, 0 by spike.encode); 1 decodes forced
// STATS-NEXT:   decode forced: %q (spike.lif) for func.return

// BAD: sparsity-encoding: unknown op names ['fft']
