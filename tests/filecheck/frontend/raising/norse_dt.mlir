// Norse's LIFCell at dt = 0.5 ms (both exporters): each is one spike.cuba_lif whose factors are
// dt/tau read off the export (0.5 ms * 100/s, 0.5 ms * 200/s), not Norse's defaults.
// RUN: spikec import %samples/export/norse_dt.dynamo.onnx | filecheck %s
// RUN: spikec import %samples/export/norse_dt.torchscript.onnx | filecheck %s

// CHECK-COUNT-2: spike.cuba_lif %{{.*}} {dt_tau_mem_inv = 5.000000e-02 : f32, dt_tau_syn_inv = 1.000000e-01 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32} : (tensor<4x64x64xf32>) -> !spike.train<4x64x64>
// CHECK:      func.return
