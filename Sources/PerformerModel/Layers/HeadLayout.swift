/// The two layouts of a multi-head activation and the permutations between them:
///
/// - token-major [batch, length, heads·headDim]: what the projections read and write (one GEMM
///   over all batch·length rows);
/// - head-major [batch, heads, length, headDim]: what the attention kernels take (one contiguous
///   [length, headDim] slice per (batch, head)).
///
/// `split` goes token-major → head-major and can apply the rotary embedding on the way (queries
/// and keys); `merge` goes back and can apply the inverse rotation (the backward of a rotated
/// split). Both are one pass over memory; neither allocates. Rows are spread over `parallelism`
/// workers (each (batch, position) row is independent).
public enum HeadLayout {
    /// out [batch, heads, length, headDim] ← input [batch, length, heads·headDim], rotated by
    /// `rotary` (position = index within the window) when given.
    public static func split(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        batch: Int, length: Int, heads: Int, headDim: Int, rotary: RotaryEmbedding?,
        parallelism: SliceParallelism = .serial
    ) {
        let dim = heads * headDim
        parallelism.run(slices: batch * heads) { slice, _ in
            let b = slice / heads, h = slice % heads
            for p in 0..<length {
                let src = input + (b * length + p) * dim + h * headDim
                let dst = out + (slice * length + p) * headDim
                if let rotary {
                    rotary.rotate(dst, src, position: p)
                } else {
                    dst.update(from: src, count: headDim)
                }
            }
        }
    }

    /// out [batch, length, heads·headDim] ← input [batch, heads, length, headDim], rotated back
    /// (Rᵀ) by `inverseRotary` when given.
    public static func merge(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        batch: Int, length: Int, heads: Int, headDim: Int, inverseRotary: RotaryEmbedding?,
        parallelism: SliceParallelism = .serial
    ) {
        let dim = heads * headDim
        parallelism.run(slices: batch * heads) { slice, _ in
            let b = slice / heads, h = slice % heads
            for p in 0..<length {
                let src = input + (slice * length + p) * headDim
                let dst = out + (b * length + p) * dim + h * headDim
                if let inverseRotary {
                    inverseRotary.rotate(dst, src, position: p, inverse: true)
                } else {
                    dst.update(from: src, count: headDim)
                }
            }
        }
    }
}
