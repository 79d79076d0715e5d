import COpenBLAS

/// Level-1/2 OpenBLAS calls used by the causal RNN mode (`BLAS.sgemm` covers the chunked kernels).
extension CausalLinearAttention {
    /// `y[n] = Aᵀ x` for `A` `[m, n]` row-major with row stride `lda` (`x` `[m]`).
    @inline(__always)
    static func sgemvTransposed(
        m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), 1, a, Int32(lda), x, 1, 0, y, 1)
    }

    /// `A[m, n] += alpha · x yᵀ` (rank-1 update), `A` row-major with row stride `lda`.
    @inline(__always)
    static func sger(
        m: Int, n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
        a: UnsafeMutablePointer<Float>, lda: Int
    ) {
        cblas_sger(CblasRowMajor, Int32(m), Int32(n), alpha, x, 1, y, 1, a, Int32(lda))
    }

    /// `x[0..<n] *= alpha`.
    @inline(__always)
    static func sscal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(n), alpha, x, 1)
    }

    /// `Σ_t x[t·incX] · y[t]` over `n` terms.
    @inline(__always)
    static func sdot(n: Int, x: UnsafePointer<Float>, incX: Int, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, Int32(incX), y, 1)
    }
}
