#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// Naive Double-precision twin of `CrossEntropy.loss`: (Σ_r w_r·(logsumexp(z_r) − z_r[t_r]), Σ_r w_r).
/// Shapes: logits [rows, vocab], targets and weights [rows].
public enum CrossEntropyReference {
    public static func loss(
        logits: [Double], targets: [TokenID], weights: [Double], vocab: Int
    ) -> (sum: Double, weight: Double) {
        let rows = targets.count
        precondition(logits.count == rows * vocab && weights.count == rows)
        var sum = 0.0, weight = 0.0
        for r in 0..<rows where weights[r] != 0 {
            let row = logits[(r * vocab)..<((r + 1) * vocab)]
            let top = row.max() ?? 0
            let lse = top + log(row.reduce(0) { $0 + exp($1 - top) })
            sum += weights[r] * (lse - logits[r * vocab + Int(targets[r])])
            weight += weights[r]
        }
        return (sum, weight)
    }
}
