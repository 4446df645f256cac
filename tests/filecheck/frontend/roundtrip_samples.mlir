// `spikec import samples/<each>.onnx | spikec opt -p '' -` prints the same IR, custom and generic.
// RUN: spikec import %samples/spikformer.onnx > %t.custom && spikec opt -p '' - < %t.custom > %t.again && diff %t.custom %t.again
// RUN: spikec import %samples/sdt.onnx > %t.custom && spikec opt -p '' - < %t.custom > %t.again && diff %t.custom %t.again
// RUN: spikec import %samples/xpikeformer.onnx > %t.custom && spikec opt -p '' - < %t.custom > %t.again && diff %t.custom %t.again
// RUN: spikec import %samples/moe.onnx > %t.custom && spikec opt -p '' - < %t.custom > %t.again && diff %t.custom %t.again
// RUN: spikec import %samples/moe.onnx --generic > %t.generic && spikec opt -p '' --generic - < %t.generic > %t.again && diff %t.generic %t.again
// RUN: spikec import %samples/sdt.onnx --generic > %t.generic && spikec opt -p '' --generic - < %t.generic > %t.again && diff %t.generic %t.again
