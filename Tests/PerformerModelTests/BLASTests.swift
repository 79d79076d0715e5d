import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct BLASTests {
    @Test func sgemmMatchesNaiveProduct() {
        let m = 3, n = 4, k = 5
        let a = (0..<(m * k)).map { Float($0 % 7) - 3 }
        let b = (0..<(k * n)).map { Float($0 % 5) - 2 }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                               c: pc.baseAddress!, ldc: n)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[i * k + p] * b[p * n + j] }
                #expect(c[i * n + j] == s)
            }
        }
    }

    /// beta = 0 never reads C: NaN in it is overwritten, the columns between n and ldc are left
    /// alone, and the product is right (Double reference, bound 1e-5·Σ|a·b|), for a C small enough
    /// to be cleared by `BLAS.sgemm` itself and for one above `BLAS.zeroingMaximum` (OpenBLAS's own
    /// path unless it runs single-threaded), with OpenBLAS threaded and at one thread.
    @Test(arguments: [(24, 65, 256), (300, 260, 7)])
    func betaZeroOverwritesWithoutReading(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let ldc = n + 3
        var rng = SeededGenerator(seed: 11)
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        func product() -> [Float] {
            var c = [Float](repeating: .nan, count: m * ldc)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                                   beta: 0, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
            return c
        }
        for singleThreaded in [false, true] {
            let c = singleThreaded ? BLAS.singleThreaded { product() } : product()
            for i in 0..<m {
                for j in 0..<n {
                    var exact = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        let term = Double(a[i * k + p]) * Double(b[p * n + j])
                        exact += term
                        magnitude += abs(term)
                    }
                    #expect(abs(Double(c[i * ldc + j]) - exact) <= 1e-5 * magnitude, "(\(i), \(j))")
                }
                for j in n..<ldc { #expect(c[i * ldc + j].isNaN, "column \(j) past n was written") }
            }
        }
    }
}
