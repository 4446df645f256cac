// RUN: spikec opt %s -p 'canonicalize' | filecheck %s
// RUN: spikec opt %s -p 'canonicalize,dce' | filecheck %s --check-prefix=DCE

builtin.module attributes {spike.timesteps = 4 : i64} {
  spike.global @unused : tensor<8xf32>
  func.func @main(%x: !spike.train<4x?x6x8>) -> (!spike.train<4x?x48>, !spike.train<4x?x8x6>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) {
    %r1 = spike.reshape %x {shape = array<i64: 4, -1, 3, 16>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x3x16>
    %r2 = spike.reshape %r1 {shape = array<i64: 4, -1, 48>} : (!spike.train<4x?x3x16>) -> !spike.train<4x?x48>
    %t1 = spike.transpose %x {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x8x6>
    %t2 = spike.transpose %t1 {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x8x6>) -> !spike.train<4x?x6x8>
    %t3 = spike.transpose %t2 {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x8x6>
    %a, %b = spike.split %x {axis = 3 : i64, sizes = array<i64: 2, 6>} : (!spike.train<4x?x6x8>) -> (!spike.train<4x?x6x2>, !spike.train<4x?x6x6>)
    %j = spike.concat %a, %b {axis = 3 : i64} : (!spike.train<4x?x6x2>, !spike.train<4x?x6x6>) -> !spike.train<4x?x6x8>
    %e = spike.encode %x : !spike.train<4x?x6x8> -> !spike.encoded<addr 4x?x6 : 8>
    %d = spike.decode %e : !spike.encoded<addr 4x?x6 : 8> -> !spike.train<4x?x6x8>
    func.return %r2, %t3, %j, %d : !spike.train<4x?x48>, !spike.train<4x?x8x6>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>
  }
}
// Two reshapes become one; three transposes become one; split then concat and encode then
// decode disappear.
// CHECK:      spike.global @unused
// CHECK:      func.func @main
// CHECK-NEXT:   %r2 = spike.reshape %x {shape = array<i64: 4, -1, 48>}
// CHECK-NEXT:   %t3 = spike.transpose %x {perm = array<i64: 0, 1, 3, 2>}
// CHECK-NEXT:   func.return %r2, %t3, %x, %x
// The unused declaration goes with dce.
// DCE-NOT:    spike.global @unused
