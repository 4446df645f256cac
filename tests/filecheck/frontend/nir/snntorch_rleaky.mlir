// NIR import of an snnTorch network with an RLeaky layer: snnTorch writes the recurrent layer as
// a LIF whose spikes an Affine node feeds back to it; the pair becomes one spike.leaky with the
// recurrent weight and bias as operands. β comes back as exactly 0.9 (τ = dt / (1 - β), r = τ / dt
// in the file), the reset as snnTorch's importer builds it (to zero, in the step that fired), and
// the discretisation is recognised as snnTorch's from those parameters.
// RUN: spikec import %samples/export/snntorch_rleaky.nir --dt 1e-4 --timesteps 6 | filecheck %s

// CHECK:      builtin.module attributes {spike.timesteps = 6 : i64, spike.nir_discretisation = "snntorch", spike.dt = 1.000000e-04 : f64
// CHECK:      func.func @main(%input: tensor<6x?x64xf32> {spike.name = "input"}) -> (!spike.train<6x?x10> {spike.name = "output"})
// CHECK:      %v0 = spike.linear %input, %v0.weight, %v0.bias {transpose_weight}
// CHECK:      %v1.lif = spike.leaky %v0, %v1.w_rec.weight, %v1.w_rec.bias {beta = 9.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset zero>, immediate_reset} : (tensor<6x?x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> !spike.train<6x?x32>
// CHECK:      %v2 = spike.linear %v1.lif, %v2.weight, %v2.bias {transpose_weight}
// CHECK-NEXT: %v3 = spike.leaky %v2 {beta = 9.000000e-01 : f32, threshold = 1.000000e+00 : f32, reset_mechanism = #spike<leaky_reset zero>, immediate_reset}
// CHECK-NEXT: func.return %v3
