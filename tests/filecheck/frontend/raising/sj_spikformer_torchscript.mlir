// SpikingJelly 2.0's Spikformer exported by the TorchScript exporter (with a surrogate of the
// user's own class, so that SpikingJelly runs its pure-PyTorch loop): the repeat is written
// ConstantOfShape -> Expand -> Tile and the reshapes to computed shapes, which fold; the fused
// Q/K/V neuron is reshaped [T, B, 3*D, N] -> [T, B, 3, H, C, N] -> [T, B, 3*H, C, N] and Q, K, V
// sliced out of it, and the attention is still one spike.ssa on slices of those spikes.
// RUN: spikec import %samples/export/sj_spikformer.torchscript.onnx | filecheck %s
// RUN: spikec import %samples/export/sj_spikformer.torchscript.onnx | filecheck %s --check-prefix=NONE

// CHECK:      spike.lif
// CHECK:      %[[QKV:[^ ]+]] = spike.lif %{{.*}} : (tensor<4x64x96x4xf32>) -> !spike.train<4x64x96x4>
// CHECK:      spike.split %{{.*}} {{.*}} -> (!spike.train<{{.*}}>, !spike.train<{{.*}}>)
// CHECK:      spike.ssa %{{.*}}, %{{.*}}, %{{.*}} {heads = 2 : i64, scale = 1.250000e-01 : f32}
// CHECK:      func.return

// NONE-NOT:   GreaterOrEqual
// NONE-NOT:   spike.matmul
// NONE-NOT:   onnx_region
