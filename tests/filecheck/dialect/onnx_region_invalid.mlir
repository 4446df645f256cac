// spike.onnx_region's verifier: the body decodes and matches the op's operands and results.
// RUN: not spikec opt %s --split-input-file 2>&1 | filecheck %s

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x8xf32>) -> (tensor<4x?x8xf32>, tensor<4x?x8xf32>) {
    %y, %z = "spike.onnx_region"(%x) <{name = "Unraised0", body = "CglVbnJhaXNlZDAiAXgqAXkyBnJlYXNvbjomEgFjIghDb25zdGFudCoXCgV2YWx1ZSoLEAFCAWNKBAAAgD+gAQQ6GQoBeAoBYxIBZiIOR3JlYXRlck9yRXF1YWw6FwoBZhIBeSIEQ2FzdCoJCgJ0bxgBoAECSgQKABARUgVzcGlrZQ==", reason = ""}> : (tensor<4x?x8xf32>) -> (tensor<4x?x8xf32>, tensor<4x?x8xf32>)
    func.return %y, %z : tensor<4x?x8xf32>, tensor<4x?x8xf32>
  }
}

// CHECK: spike.onnx_region: the body takes 1 inputs and gives 1 outputs; the op has 1 operands and 2 results

// -----

builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x8xf32>) -> tensor<4x?x8xf32> {
    %y = "spike.onnx_region"(%x) <{name = "Unraised0", body = "not base64!", reason = ""}> : (tensor<4x?x8xf32>) -> tensor<4x?x8xf32>
    func.return %y : tensor<4x?x8xf32>
  }
}

// CHECK: spike.onnx_region: the body is not a base64-encoded ONNX FunctionProto
