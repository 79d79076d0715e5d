import COpenBLAS
import Foundation

/// Thin wrappers over OpenBLAS. Row-major throughout.
public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major, op = transpose when the flag is set.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored. With `beta == 0`, C is
    /// not read (whatever it held, NaN included, is overwritten).
    ///
    /// `beta == 0` runs as "zero C, then `beta = 1`" whenever OpenBLAS would do the work on this
    /// thread anyway (C up to `zeroingMaximum` elements, or OpenBLAS at one thread): OpenBLAS
    /// 0.3.21 clears C for `beta = 0` with a separate pass (`sgemm_beta`) that costs more than a
    /// `memset` of the rows, e.g. 19.9 against 14.0 µs for a [256, 65] += [24, 256]ᵀ·[24, 65]
    /// product of the causal contraction (docs/attention.md, "Calling OpenBLAS"). Larger products
    /// on several OpenBLAS threads keep its own path, where the threads share the clearing.
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }  // an empty share of rows (C has no element)
        var beta = beta
        if beta == 0 && (m * n <= zeroingMaximum || openblas_get_num_threads() == 1) {
            zero(c, rows: m, columns: n, stride: ldc)
            beta = 1
        }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// Largest C (elements) that `sgemm` clears itself for `beta == 0` while OpenBLAS runs
    /// several threads: 256 KB.
    public static let zeroingMaximum = 1 << 16

    /// C[rows, columns] = 0 with row stride `stride` (one `memset` when the rows are contiguous).
    @usableFromInline
    static func zero(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int) {
        if stride == columns {
            c.update(repeating: 0, count: rows * columns)
            return
        }
        for i in 0..<rows { (c + i * stride).update(repeating: 0, count: columns) }
    }
}

extension BLAS {
    /// One `sgemm` per slice, for tensors laid out as `count` equal matrices one after another
    /// (e.g. [batch·heads] slices of [length, headDim]): for s in 0..<count,
    /// C_s = alpha · op(A_s) · op(B_s) + beta · C_s with X_s = x + s · strideX.
    /// A stride of 0 shares one matrix across all slices (e.g. one random-feature matrix W).
    @inlinable
    public static func sgemmBatched(
        count: Int,
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    ) {
        for s in 0..<count {
            sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                a: a + s * strideA, lda: lda, b: b + s * strideB, ldb: ldb,
                beta: beta, c: c + s * strideC, ldc: ldc)
        }
    }

    /// The number of threads OpenBLAS uses inside one call, right now. Setting it is
    /// process-wide; code that runs work on several threads itself uses `singleThreaded` instead,
    /// which nests and restores the count safely.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(Swift.max(newValue, 1))) }
    }

    /// OpenBLAS's thread count outside `singleThreaded` regions: the count the process was
    /// started with (OPENBLAS_NUM_THREADS, else one per core) unless someone set `threads`.
    public static var configuredThreads: Int {
        regionLock.lock()
        defer { regionLock.unlock() }
        return regionDepth > 0 ? threadsOutsideRegions : threads
    }

    /// Runs `body` with OpenBLAS at one thread per call, for callers that run work on several
    /// threads themselves (slice workers, batch workers). Regions may nest and may overlap on
    /// different threads: the count becomes 1 when the first region starts and is restored when
    /// the last one ends, so no region sees it change in the middle.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        regionLock.lock()
        if regionDepth == 0 {
            threadsOutsideRegions = threads
            threads = 1
        }
        regionDepth += 1
        regionLock.unlock()
        defer {
            regionLock.lock()
            regionDepth -= 1
            if regionDepth == 0 { threads = threadsOutsideRegions }
            regionLock.unlock()
        }
        return try body()
    }

    private static let regionLock = NSLock()
    nonisolated(unsafe) private static var regionDepth = 0
    nonisolated(unsafe) private static var threadsOutsideRegions = 1

    /// Number of processors OpenBLAS detected.
    public static var processors: Int { Int(openblas_get_num_procs()) }
}
