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
        shares(rows: batch * length, parallelism) { rows in
            split(out: out, input: input, rows: rows, length: length, heads: heads, headDim: headDim, rotary: rotary)
        }
    }

    /// `split` of the token-major rows in `rows` (row r = position r mod length of window
    /// r / length) only.
    static func split(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Range<Int>,
        length: Int, heads: Int, headDim: Int, rotary: RotaryEmbedding?
    ) {
        let dim = heads * headDim
        for r in rows {
            let b = r / length, p = r % length
            for h in 0..<heads {
                let src = input + r * dim + h * headDim
                let dst = out + ((b * heads + h) * length + p) * headDim
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
        shares(rows: batch * length, parallelism) { rows in
            merge(out: out, input: input, rows: rows, length: length, heads: heads, headDim: headDim,
                  inverseRotary: inverseRotary)
        }
    }

    /// `merge` into the token-major rows t in `rows` only, each from row `sourceRows[t]` of the
    /// head-major input (from row t when nil): with `sourceRows`, a merge that gathers selected
    /// rows to the front.
    static func merge(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Range<Int>,
        length: Int, heads: Int, headDim: Int, inverseRotary: RotaryEmbedding?, sourceRows: [Int]? = nil
    ) {
        let dim = heads * headDim
        for t in rows {
            let r = sourceRows?[t] ?? t
            let b = r / length, p = r % length
            for h in 0..<heads {
                let src = input + ((b * heads + h) * length + p) * headDim
                let dst = out + t * dim + h * headDim
                if let inverseRotary {
                    inverseRotary.rotate(dst, src, position: p, inverse: true)
                } else {
                    dst.update(from: src, count: headDim)
                }
            }
        }
    }

    /// body(rows) for contiguous shares of 0..<n, one per worker of `parallelism`.
    private static func shares(rows n: Int, _ parallelism: SliceParallelism, _ body: (Range<Int>) -> Void) {
        let parts = parallelism.workerCount(slices: n)
        parallelism.run(slices: parts) { part, _ in body((n * part / parts) ..< (n * (part + 1) / parts)) }
    }

    /// Zeroes the positions of the token-major rows in `rows` in every head of a head-major
    /// [batch, heads, length, headDim] buffer (the head-major rows a `split` of `rows` writes).
    static func zero(_ buffer: UnsafeMutablePointer<Float>, rows: Range<Int>, length: Int, heads: Int, headDim: Int) {
        var r = rows.lowerBound
        while r < rows.upperBound {
            // The run of rows in one window: contiguous in every head.
            let b = r / length, p = r % length
            let run = min(rows.upperBound - r, length - p)
            for h in 0..<heads {
                (buffer + ((b * heads + h) * length + p) * headDim).update(repeating: 0, count: run * headDim)
            }
            r += run
        }
    }
}
