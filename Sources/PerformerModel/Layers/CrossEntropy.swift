#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// A weighted sum of per-position losses, in nats: `sum` = Σ w·CE, `weight` = Σ w.
///
/// Kept as a sum and a weight (not a mean) so that micro-batches, ranks and evaluation batches
/// combine exactly: add the sums and the weights, then take `mean`.
public struct LossSum: Sendable, Equatable {
    /// Σ_i w_i·CE_i over the positions (Double accumulation).
    public var sum: Double
    /// Σ_i w_i.
    public var weight: Double

    public init(sum: Double = 0, weight: Double = 0) {
        self.sum = sum
        self.weight = weight
    }

    /// sum / weight, the mean loss per unit weight; 0 when `weight` is 0 (a batch with no
    /// targets has no loss, rather than NaN).
    public var mean: Double { weight > 0 ? sum / weight : 0 }

    /// e^mean, the perplexity (1 when there are no targets).
    public var perplexity: Double { exp(mean) }

    public static func + (lhs: LossSum, rhs: LossSum) -> LossSum {
        LossSum(sum: lhs.sum + rhs.sum, weight: lhs.weight + rhs.weight)
    }

    public static func += (lhs: inout LossSum, rhs: LossSum) { lhs = lhs + rhs }
}

/// Weighted softmax cross-entropy over rows of logits:
///
///     CE_r = logsumexp(z_r) − z_r[t_r],   loss = Σ_r w_r·CE_r (returned with Σ_r w_r).
///
/// Shapes: logits z [rows, vocab], targets t [rows] (ids < vocab), weights w [rows] (w ≥ 0;
/// 0 = not a target, the row costs nothing and is never read beyond its weight). Saved for
/// backward: nothing; the backward recomputes the softmax from the logits (vocab is small).
public enum CrossEntropy {
    public typealias Vector = SIMD8<Float>

    /// Σ_r w_r·CE_r and Σ_r w_r (both in Double). Rows with w_r = 0 are skipped.
    public static func loss(
        logits: UnsafePointer<Float>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        rows: Int, vocab: Int
    ) -> LossSum {
        requireAlways(targets.count == rows && weights.count == rows, "cross-entropy needs \(rows) targets and weights")
        Embedding.checkTokens(targets, vocab: vocab)
        var total = LossSum()
        for r in 0..<rows where weights[r] != 0 {
            let z = logits + r * vocab
            let (shift, sum) = expSum(z, vocab: vocab)
            let ce = Double(shift) + log(Double(sum)) - Double(z[Int(targets[r])])
            total.sum += Double(weights[r]) * ce
            total.weight += Double(weights[r])
        }
        return total
    }

    /// dz_r += scale·w_r·(softmax(z_r) − onehot(t_r)), the gradient of scale·Σ_r w_r·CE_r.
    /// Rows with w_r = 0 are left untouched.
    ///
    /// - Parameters:
    ///   - dLogits: dz [rows, vocab], accumulated.
    ///   - logits: z [rows, vocab].
    ///   - scale: e.g. 1/Σw for the mean loss.
    public static func backward(
        dLogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
        targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        scale: Float, rows: Int, vocab: Int
    ) {
        requireAlways(targets.count == rows && weights.count == rows, "cross-entropy needs \(rows) targets and weights")
        Embedding.checkTokens(targets, vocab: vocab)
        for r in 0..<rows where weights[r] != 0 {
            let z = logits + r * vocab, dz = dLogits + r * vocab
            let (shift, sum) = expSum(z, vocab: vocab)
            let factor = scale * weights[r] / sum
            var i = 0
            while i + 8 <= vocab {
                let p = Elementwise.exp(Elementwise.load(z, i) - Vector(repeating: shift))
                Elementwise.store(Elementwise.load(dz, i) + factor * p, dz, i)
                i += 8
            }
            if i < vocab {
                let n = vocab - i
                let p = Elementwise.exp(Elementwise.loadTail(z, i, n) - Vector(repeating: shift))
                Elementwise.storeTail(Elementwise.loadTail(dz, i, n) + factor * p, dz, i, n)
            }
            dz[Int(targets[r])] -= scale * weights[r]
        }
    }

    /// (max z, Σ_i exp(z_i − max z)) of one row.
    @inline(__always)
    static func expSum(_ z: UnsafePointer<Float>, vocab: Int) -> (shift: Float, sum: Float) {
        let shift = Elementwise.max(z, count: vocab)
        let vShift = Vector(repeating: shift)
        var acc = Vector(repeating: 0)
        var i = 0
        while i + 8 <= vocab {
            acc += Elementwise.exp(Elementwise.load(z, i) - vShift)
            i += 8
        }
        if i < vocab {
            acc += Elementwise.exp(Elementwise.loadTail(z, i, vocab - i, pad: -.infinity) - vShift)
        }
        return (shift, acc.sum())
    }
}
