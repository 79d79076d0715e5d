#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// Log-probabilities from one row of logits, in Double (the logits are Float32; the vocabulary is
/// tiny, so a Double log-sum-exp per row costs nothing next to the forward pass).
///
///     log p(t) = z_t − log Σ_{u ∈ S} exp(z_u)
///
/// with S the whole vocabulary for scores (the distribution the model was trained to output)
/// or a set of residue ids for fill (a softmax restricted to the residues it reports).
enum LogSoftmax {
    /// log Σ_{u ∈ ids} exp(z_u), stabilised by the maximum over `ids` (non-empty).
    @inline(__always)
    static func logSumExp(_ z: UnsafePointer<Float>, ids: Range<Int>) -> Double {
        precondition(!ids.isEmpty, "log-sum-exp over no ids")
        var top = -Double.infinity
        for u in ids { top = Swift.max(top, Double(z[u])) }
        var sum = 0.0
        for u in ids { sum += exp(Double(z[u]) - top) }
        return top + log(sum)
    }

    /// log p(target) under the softmax over all `vocab` logits of the row `z`.
    @inline(__always)
    static func logProbability(_ z: UnsafePointer<Float>, of target: TokenID, vocab: Int) -> Double {
        Double(z[Int(target)]) - logSumExp(z, ids: 0..<vocab)
    }

    /// The full log-softmax of the row `z` [vocab], in Double.
    static func logProbabilities(_ z: UnsafePointer<Float>, vocab: Int) -> [Double] {
        let normalizer = logSumExp(z, ids: 0..<vocab)
        return (0..<vocab).map { Double(z[$0]) - normalizer }
    }
}
