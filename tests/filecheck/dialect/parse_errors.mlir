// Syntax errors are reported with file, line and column, one per section.
// RUN: not spikec opt %s --split-input-file 2>&1 | filecheck %s

builtin.module {
  func.func @f(%x: !spike.train<?x2x8>) {
    func.return
  }
}
// CHECK: parse_errors.mlir:5:{{[0-9]+}}{{.*}}the time axis (dim 0) must be static and > 0

// -----
builtin.module {
  func.func @f(%x: !spike.train<4x2x?>) {
    func.return
  }
}
// CHECK: parse_errors.mlir:13:{{[0-9]+}}{{.*}}only the batch (dim 1) may be dynamic

// -----
builtin.module {
  func.func @f(%x: !spike.train<4>) {
    func.return
  }
}
// CHECK: parse_errors.mlir:21:{{[0-9]+}}{{.*}}!spike.train needs a time and a batch axis [T, B, ...], got rank 1

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.neuron %x : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: parse_errors.mlir:30:{{[0-9]+}}{{.*}}spike.neuron

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x {tau = 2.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32, decay_input = true, reset = #spike<reset sideways>} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: parse_errors.mlir:39:{{[0-9]+}}: Expected `hard`, or `soft`

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>
    func.return
  }
}
// CHECK: {{.*}}tau

// -----
builtin.module {
  func.func @f(%x: tensor<4x2x8xf32>) {
    %s = spike.lif %x {tau = 2.000000e+00 : f32
// CHECK: parse_errors.mlir:{{[0-9]+}}:{{[0-9]+}}

// CHECK: 7 of the input's sections failed
