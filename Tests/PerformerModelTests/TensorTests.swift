import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct TensorTests {
    @Test func shapesCountsAndMatrixViews() {
        let t = Tensor(shape: [2, 3, 4, 5])
        #expect(t.count == 120)
        #expect(t.rows == 4 && t.columns == 5 && t.matrixCount == 6)
        #expect(t.array.allSatisfy { $0 == 0 })
        // matrix(b·heads + h) starts at ((b·3 + h)·4)·5.
        #expect(t.matrix(4) == t.data + 80)
        #expect(Int(bitPattern: UnsafeRawPointer(t.data)) % 64 == 0)
        let values = (0..<6).map(Float.init)
        let u = Tensor(shape: [2, 3], values: values)
        #expect(u.array == values)
        #expect(u[4] == 4)
        u.zero()
        #expect(u.array == [0, 0, 0, 0, 0, 0])
    }

    @Test func randomFillsAreReproducibleAndHaveTheRightMoments() {
        var g1 = SeededGenerator(seed: 11), g2 = SeededGenerator(seed: 11)
        let a = Tensor.normal(shape: [100, 100], mean: 1, std: 2, using: &g1)
        let b = Tensor.normal(shape: [100, 100], mean: 1, std: 2, using: &g2)
        #expect(a.array == b.array)
        let n = Double(a.count)
        let mean = a.array.reduce(0.0) { $0 + Double($1) } / n
        let variance = a.array.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        // Standard errors: mean 2/100 = 0.02, variance ≈ 4·√(2/10⁴) ≈ 0.057.
        #expect(abs(mean - 1) < 0.1)
        #expect(abs(variance - 4) < 0.3)
        let u = Tensor.uniform(shape: [10_000], lower: -1, upper: 3, using: &g1)
        #expect(u.array.allSatisfy { $0 >= -1 && $0 < 3 })
        let uMean = u.array.reduce(0.0) { $0 + Double($1) } / 10_000
        #expect(abs(uMean - 1) < 0.06)  // σ = 4/√12 ≈ 1.15, standard error 0.0115
    }

    @Test func batchedSgemmMatchesNaiveProducts() {
        // C_s = A_s · Bᵀ with B shared (stride 0), as the feature maps use W.
        let count = 3, m = 4, n = 5, k = 6
        let a = randomTensor([count, m, k], seed: 1)
        let b = randomTensor([n, k], seed: 2)
        let c = Tensor(shape: [count, m, n])
        BLAS.sgemmBatched(count: count, transB: true, m: m, n: n, k: k,
                          a: a.data, lda: k, strideA: m * k, b: b.data, ldb: k, strideB: 0,
                          c: c.data, ldc: n, strideC: m * n)
        for s in 0..<count {
            for i in 0..<m {
                for j in 0..<n {
                    var expected = 0.0
                    for p in 0..<k { expected += Double(a[s * m * k + i * k + p]) * Double(b[j * k + p]) }
                    #expect(abs(Double(c[s * m * n + i * n + j]) - expected) < 1e-5)
                }
            }
        }
    }

    /// The split product equals a naive Double product (1e-4 absolute, k = 40) for every
    /// transpose combination, split by rows (m ≥ n) and by columns (m < n), into 2, 3 and 7 parts,
    /// with padded leading dimensions and β = 0.5 reading C; parts never write outside C.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func splitSgemmMatchesNaiveProducts(transA: Bool, transB: Bool) {
        let k = 40
        for (m, n) in [(301, 90), (70, 400)] {
            #expect(m * n * k >= SliceParallelism.splitGEMMMinimum)
            let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 5
            let a = randomTensor([(transA ? k : m) * lda], seed: 11)
            let b = randomTensor([(transB ? n : k) * ldb], seed: 12)
            let start = randomTensor([m * ldc], seed: 13)
            for workers in [2, 3, 7] {
                let c = Tensor(shape: [m * ldc], values: start.array)
                SliceParallelism.workers(workers).sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, a: a.data, lda: lda,
                    b: b.data, ldb: ldb, beta: 0.5, c: c.data, ldc: ldc)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<ldc {
                        var expected = Double(start[i * ldc + j])
                        if j < n {
                            var sum = 0.0
                            for p in 0..<k {
                                let x = transA ? a[p * lda + i] : a[i * lda + p]
                                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                                sum += Double(x) * Double(y)
                            }
                            expected = 2 * sum + 0.5 * expected
                        }
                        worst = max(worst, abs(Double(c[i * ldc + j]) - expected))
                    }
                }
                #expect(worst < 1e-4, "m \(m) n \(n) workers \(workers): \(worst)")
            }
        }
    }

    @Test func sliceParallelismVisitsEverySliceOnceWithValidWorkers() {
        for policy in [SliceParallelism.serial, .workers(2), .workers(5)] {
            var visits = [Int](repeating: 0, count: 7)
            var workers = [Int](repeating: -1, count: 7)
            visits.withUnsafeMutableBufferPointer { v in
                workers.withUnsafeMutableBufferPointer { w in
                    policy.run(slices: 7) { slice, worker in
                        v[slice] += 1
                        w[slice] = worker
                    }
                }
            }
            #expect(visits == [Int](repeating: 1, count: 7))
            #expect(workers.allSatisfy { $0 >= 0 && $0 < policy.workerCount(slices: 7) })
        }
        let threads = BLAS.configuredThreads
        SliceParallelism.workers(2).run(slices: 4) { _, _ in #expect(BLAS.threads == 1) }
        #expect(BLAS.configuredThreads == threads)
    }

    /// Single-threaded regions nest and overlap across threads: OpenBLAS stays at one thread
    /// until the last region ends, and the configured count is reported throughout.
    @Test func singleThreadedRegionsNestAndOverlap() {
        let configured = BLAS.configuredThreads
        BLAS.singleThreaded {
            #expect(BLAS.threads == 1)
            #expect(BLAS.configuredThreads == configured)
            SliceParallelism.workers(2).run(slices: 2) { _, _ in
                BLAS.singleThreaded { #expect(BLAS.threads == 1) }
                #expect(BLAS.threads == 1)
            }
            #expect(BLAS.threads == 1)
        }
        #expect(BLAS.configuredThreads == configured)
    }
}
