#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// The two ways of reading a 20×20 amino-acid similarity matrix from attention.
public enum SimilarityMethod: String, CaseIterable, Sendable, Codable {
    /// Log-odds of the symmetrised residue-to-residue attention mass against the residue
    /// frequencies (`AttentionTypeMass.logOdds(units:)`), BLOSUM's construction with attention
    /// in place of aligned pairs.
    case attention
    /// Vig et al. 2021: correlation across heads of the share of attention each amino acid
    /// receives (`AttentionTypeMass.headProfileCorrelation()`).
    case headProfile = "head-profile"
}

/// Units of a log-odds matrix.
public enum ScoreUnits: String, CaseIterable, Sendable, Codable {
    /// log₂ of the odds ratio.
    case bits
    /// 2·log₂ of the odds ratio, the unit of BLOSUM62 (which also rounds to integers).
    case halfBits = "half-bits"

    /// Multiplier applied to log₂.
    public var scale: Double { self == .bits ? 1 : 2 }
}

extension AttentionTypeMass {
    /// M [n, n] (n = letters.count): the residue-to-residue mass summed over every layer and head,
    /// M_ab = Σ_{layer, head} mass[layer, head, a, b], rows and columns in `letters` order.
    public func residueMass(letters: [Character] = SubstitutionMatrix.standardLetters) -> [Double] {
        let ids = AttentionTypeMass.tokenIDs(letters), n = letters.count
        var m = [Double](repeating: 0, count: n * n)
        for lh in 0..<(layers * heads) {
            let base = lh * types * types
            for (i, a) in ids.enumerated() {
                for (j, b) in ids.enumerated() { m[i * n + j] += mass[base + a * types + b] }
            }
        }
        return m
    }

    /// The attention log-odds matrix:
    ///
    ///     M_ab   = Σ_{layers, heads} Σ_windows Σ_{i: x_i = a} Σ_{j: x_j = b} A_ij   (a, b standard residues)
    ///     P_ab   = (M_ab + M_ba) / Σ_{c,d} (M_cd + M_dc)      (symmetric, Σ P = 1)
    ///     p_a    = Σ_b P_ab                                   (its marginal residue frequencies)
    ///     S_ab   = u · log₂(P_ab / (p_a p_b)),   u = 1 (bits) or 2 (half-bits)
    ///
    /// — BLOSUM's log-odds (Henikoff & Henikoff 1992: q_ij, p_i = Σ_j q_ij, s_ij = log₂(q_ij/(p_i p_j))
    /// in half-bits), with attention mass in place of aligned pair counts. S_ab = 0 when attention
    /// between a and b is what independence predicts; > 0 when the model attends between them more.
    /// Not rounded. An entry whose P_ab or marginal is 0 (a residue absent from the windows) is NaN.
    /// Comments name the method and units.
    public func logOdds(units: ScoreUnits = .halfBits, letters: [Character] = SubstitutionMatrix.standardLetters)
        -> SubstitutionMatrix
    {
        let n = letters.count
        let m = residueMass(letters: letters)
        var p = [Double](repeating: 0, count: n * n)
        var total = 0.0
        for i in 0..<n { for j in 0..<n { p[i * n + j] = m[i * n + j] + m[j * n + i]; total += p[i * n + j] } }
        if total > 0 { for e in p.indices { p[e] /= total } }
        let marginal = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + p[i * n + $1] } }
        var scores = [Double](repeating: .nan, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let odds = p[i * n + j] / (marginal[i] * marginal[j])
                let score = units.scale * log2(odds)
                scores[i * n + j] = score.isFinite ? score : .nan
            }
        }
        let unit = units == .bits ? "bits" : "half-bits"
        return SubstitutionMatrix(letters: letters, scores: scores, comments: [
            "method attention: S_ab = \(units == .bits ? "" : "2*")log2(P_ab / (p_a p_b)), P = symmetrised residue-to-residue attention mass, p its marginals (\(unit))",
        ])
    }

    /// The per-head attention profiles [layers·heads][n] of Vig et al. 2021: for each head, the
    /// share of its residue-to-residue attention that lands on each amino acid,
    ///
    ///     f_h(b) = Σ_{a ∈ R} mass[h, a, b] / Σ_{a ∈ R} Σ_{c ∈ R} mass[h, a, c],   R = the 20 standard residues,
    ///
    /// (attention from and to special tokens left out, as provis drops `<cls>`/`<sep>`). Heads in
    /// layer-major order; a head with no residue-to-residue mass gets NaN.
    public func headProfiles(letters: [Character] = SubstitutionMatrix.standardLetters) -> [[Double]] {
        let ids = AttentionTypeMass.tokenIDs(letters)
        let residues = AttentionTypeMass.tokenIDs(SubstitutionMatrix.standardLetters)
        return (0..<(layers * heads)).map { lh in
            let base = lh * types * types
            var total = 0.0
            for a in residues { for c in residues { total += mass[base + a * types + c] } }
            return ids.map { b in
                guard total > 0 else { return .nan }
                return residues.reduce(0.0) { $0 + mass[base + $1 * types + b] } / total
            }
        }
    }

    /// The head-profile similarity: R_ab = Pearson correlation, across all layers·heads heads, of
    /// the profiles f_·(a) and f_·(b) (`headProfiles`). Symmetric, diagonal 1, in [−1, 1]; NaN for
    /// a residue whose profile is constant across heads (e.g. absent from the windows, or a
    /// one-head model). This is Vig et al.'s statistic without their attention threshold (they
    /// zero weights below 0.1 before summing, which needs every individual A_ij and so is not
    /// linear-time for FAVOR models).
    public func headProfileCorrelation(letters: [Character] = SubstitutionMatrix.standardLetters) -> SubstitutionMatrix {
        let profiles = headProfiles(letters: letters).filter { $0.allSatisfy(\.isFinite) }
        let n = letters.count
        let columns = (0..<n).map { b in profiles.map { $0[b] } }
        var scores = [Double](repeating: .nan, count: n * n)
        for a in 0..<n {
            for b in 0..<n where b >= a {
                let r = Correlation.pearson(columns[a], columns[b])
                scores[a * n + b] = r
                scores[b * n + a] = r
            }
        }
        return SubstitutionMatrix(letters: letters, scores: scores, comments: [
            "method head-profile: R_ab = Pearson correlation across \(profiles.count) heads of the share of residue-to-residue attention landing on a and on b (Vig et al. 2021)",
        ])
    }

    /// The matrix of `method` (`logOdds(units:)` or `headProfileCorrelation()`; `units` applies to
    /// the first only).
    public func similarity(method: SimilarityMethod, units: ScoreUnits = .halfBits) -> SubstitutionMatrix {
        switch method {
        case .attention: return logOdds(units: units)
        case .headProfile: return headProfileCorrelation()
        }
    }
}
