import Dispatch
import Synchronization

/// How a kernel spreads its independent slices (one per (batch, head)) over the cores.
///
/// - `serial`: one slice after another on the calling thread; OpenBLAS threads each GEMM itself.
/// - `workers(n)`: n workers take slices round-robin (worker w runs slices w, w+n, w+2n, …), each
///   with its own scratch; OpenBLAS is at one thread for the duration (`BLAS.singleThreaded`), so the
///   elementwise work (exp, normalisation) runs in parallel too.
///
/// The assignment of slices to workers is fixed, and every slice is computed by the same code on
/// its own buffers, so results do not depend on the choice or on thread timing.
public enum SliceParallelism: Sendable, Equatable {
    case serial
    case workers(Int)

    /// `workers(2)` when there are at least two slices and two processors, else `serial`
    /// (measured: see docs/attention.md).
    public static func automatic(slices: Int) -> SliceParallelism {
        let cores = BLAS.processors
        return slices >= 2 && cores >= 2 ? .workers(Swift.min(cores, slices)) : .serial
    }

    /// Number of workers (and so of scratch areas) this policy uses for `slices` slices.
    public func workerCount(slices: Int) -> Int {
        switch self {
        case .serial: return 1
        case .workers(let n): return Swift.max(1, Swift.min(n, slices))
        }
    }

    /// Runs `body(slice, worker)` for every slice in 0..<slices. `worker` is in
    /// 0..<workerCount(slices:) and no two concurrent calls share a worker index.
    public func run(slices: Int, _ body: (_ slice: Int, _ worker: Int) -> Void) {
        let workers = workerCount(slices: slices)
        if workers <= 1 {
            for slice in 0..<slices { body(slice, 0) }
            return
        }
        BLAS.singleThreaded {
            withoutActuallyEscaping(body) { body in
                let box = UncheckedBox(body)
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    var slice = worker
                    while slice < slices {
                        box.value(slice, worker)
                        slice += workers
                    }
                }
            }
        }
    }
}

extension SliceParallelism {
    /// Runs `body(item, worker)` for every item in 0..<items on `workers` workers (at most one per
    /// item) that each take the next unclaimed item when they finish one, with OpenBLAS at one
    /// thread meanwhile: for items of uneven cost (passes over proteins of different lengths).
    /// Which worker runs an item depends on timing, so `body` must compute the same result on
    /// any worker (own scratch per worker, no shared state).
    public static func runDynamic(items: Int, workers: Int, _ body: (_ item: Int, _ worker: Int) -> Void) {
        let count = Swift.max(1, Swift.min(workers, items))
        if count <= 1 {
            for item in 0..<items { body(item, 0) }
            return
        }
        let next = Atomic<Int>(0)
        BLAS.singleThreaded {
            withoutActuallyEscaping(body) { body in
                let box = UncheckedBox(body)
                DispatchQueue.concurrentPerform(iterations: count) { worker in
                    while true {
                        let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if item >= items { break }
                        box.value(item, worker)
                    }
                }
            }
        }
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`; safe here because each worker only
/// touches its own slices and scratch, and `run` does not return before all workers finish.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension SliceParallelism {
    /// Elementwise passes over fewer elements than this stay on the calling thread (waking the
    /// workers would cost more than the pass).
    static let elementwiseMinimum = 1 << 16

    /// Runs body(start, count) over contiguous chunks of 0..<count, one per worker, when `work`
    /// (default `count`) elements are at least `elementwiseMinimum`; otherwise body(0, count) on
    /// the calling thread. Chunk starts are multiples of 8, so every chunk but the last is whole
    /// SIMD8 vectors. For passes whose per-element results do not depend on the split.
    func chunks(count: Int, work: Int? = nil, _ body: (_ start: Int, _ count: Int) -> Void) {
        let workers = (work ?? count) >= SliceParallelism.elementwiseMinimum
            ? workerCount(slices: Swift.max(1, count / 8)) : 1
        if workers <= 1 {
            body(0, count)
            return
        }
        let chunk = ((count + workers - 1) / workers + 7) / 8 * 8  // ⌈count/workers⌉, rounded up to 8
        run(slices: workers) { w, _ in
            let start = w * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { body(start, end - start) }
        }
    }

    /// Products with fewer multiply-adds than this run as one `BLAS.sgemm` (OpenBLAS keeps them
    /// on one thread anyway).
    static let splitGEMMMinimum = 1 << 20

    /// C[m×n] = alpha · op(A) · op(B) + beta · C (as `BLAS.sgemm`) with C cut into contiguous
    /// parts, one per worker, each part one single-threaded sgemm: C's rows when m ≥ n, else its
    /// columns. No part reads another's output, so no reduction is needed, and the cut is fixed
    /// by (m, n, workers), so results do not depend on thread timing.
    ///
    /// Why not let OpenBLAS thread the product: between its threaded calls OpenBLAS's idle
    /// threads spin (`sched_yield`) for about 2²⁸ cycles, and a model pass alternates GEMMs with
    /// the attention slices and elementwise passes that run on these same workers, so on a
    /// machine with as many cores as workers those spinning threads take cores from the work
    /// (measured in docs/model.md). `serial` or a small product: one plain `BLAS.sgemm`.
    public func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let byRows = m >= n
        let parts = workerCount(slices: byRows ? m : n)
        if parts <= 1 || m * n * k < SliceParallelism.splitGEMMMinimum {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let total = byRows ? m : n
        run(slices: parts) { part, _ in
            // parts ≤ total, so no part is empty.
            let start = total * part / parts, end = total * (part + 1) / parts
            if byRows {
                // Rows [start, end) of C come from rows [start, end) of op(A).
                BLAS.sgemm(transA: transA, transB: transB, m: end - start, n: n, k: k, alpha: alpha,
                           a: transA ? a + start : a + start * lda, lda: lda, b: b, ldb: ldb,
                           beta: beta, c: c + start * ldc, ldc: ldc)
            } else {
                // Columns [start, end) of C come from columns [start, end) of op(B).
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: end - start, k: k, alpha: alpha,
                           a: a, lda: lda, b: transB ? b + start * ldb : b + start, ldb: ldb,
                           beta: beta, c: c + start, ldc: ldc)
            }
        }
    }
}
