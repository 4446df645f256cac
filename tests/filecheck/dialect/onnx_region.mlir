// spike.onnx_region (a generic region: an ONNX function kept as it is, here y = float(x >= 1))
// prints and parses back, custom and generic; its verifier decodes the body.
// RUN: spikec opt %s | filecheck %s
// RUN: spikec opt %s | spikec opt - | filecheck %s
// RUN: spikec opt %s --generic | spikec opt - | filecheck %s
// RUN: spikec opt %s --generic | filecheck %s --check-prefix=GENERIC

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x8xf32> {spike.name = "x"}) -> (tensor<4x?x8xf32> {spike.name = "y"}) {
    %y = "spike.onnx_region"(%x) <{name = "Unraised0", body = "CglVbnJhaXNlZDAiAXgqAXkyBnJlYXNvbjomEgFjIghDb25zdGFudCoXCgV2YWx1ZSoLEAFCAWNKBAAAgD+gAQQ6GQoBeAoBYxIBZiIOR3JlYXRlck9yRXF1YWw6FwoBZhIBeSIEQ2FzdCoJCgJ0bxgBoAECSgQKABARUgVzcGlrZQ==", reason = "not raised: the charge matches no neuron model"}> : (tensor<4x?x8xf32>) -> tensor<4x?x8xf32>
    func.return %y : tensor<4x?x8xf32>
  }
}

// CHECK:      %y = "spike.onnx_region"(%x) <{name = "Unraised0", body = "CglVbnJhaXNlZDAi{{[A-Za-z0-9+/=]+}}", reason = "not raised: the charge matches no neuron model"}> : (tensor<4x?x8xf32>) -> tensor<4x?x8xf32>
// CHECK-NEXT: func.return %y : tensor<4x?x8xf32>
// GENERIC: "spike.onnx_region"(%{{.*}}) <{name = "Unraised0", body = "{{[A-Za-z0-9+/=]+}}", reason = "not raised: the charge matches no neuron model"}> : (tensor<4x?x8xf32>) -> tensor<4x?x8xf32>
