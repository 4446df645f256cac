// NIR import of a Norse network in Norse's discretisation (as norse.torch.from_nir builds it):
// LIFBoxCell as spike.lif_box with dt / τ folded in float32, the current-based LIFCell as its input
// weight, a leaky current (spike.li) and a box LIF, IAFCell as a strict spike.if on the unscaled
// input (Norse adds its input as it is).
// RUN: spikec import %samples/export/norse_mlp.nir --dt 1 --timesteps 6 --nir-discretisation norse | filecheck %s

// CHECK:      builtin.module attributes {spike.timesteps = 6 : i64, spike.nir_discretisation = "norse", spike.dt = 1.000000e+00 : f64
// CHECK:      %v0 = spike.linear %input, %v0.weight, %v0.bias {transpose_weight}
// CHECK-NEXT: %v1 = spike.lif_box %v0 {dt_tau_mem_inv = 1.500000e-01 : f32, v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32}
// CHECK:      %v3.current = spike.li %v2 {dt_tau_mem_inv = 2.000000e-01 : f32, v_leak = 0.000000e+00 : f32}
// CHECK-NEXT: %v3 = spike.lif_box %v3.current {dt_tau_mem_inv = 1.000000e-01 : f32
// CHECK:      %v5 = spike.if %v4 {v_threshold = 2.500000e-01 : f32, v_reset = 0.000000e+00 : f32, reset = #spike<reset hard>, strict}
