/// Pearson and Spearman correlation of paired samples, in Double.
///
/// Used to compare an estimated substitution matrix with BLOSUM62 over the off-diagonal pairs
/// (`SubstitutionMatrix.correlation(with:letters:)`) and, in the head-profile method, to compare
/// two amino acids' attention profiles across heads.
public enum Correlation {
    /// Pearson's r = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² · Σ(y − ȳ)²).
    ///
    /// Returns NaN when there are fewer than two pairs, when either sample is constant (a zero
    /// denominator), or when a value is not finite. The means are subtracted before the products
    /// are formed (two passes), so a large common offset costs no precision.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "pearson: \(x.count) x values, \(y.count) y values")
        let n = x.count
        guard n >= 2, x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return .nan }
        let meanX = x.reduce(0, +) / Double(n), meanY = y.reduce(0, +) / Double(n)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in 0..<n {
            let dx = x[i] - meanX, dy = y[i] - meanY
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        }
        guard sxx > 0 && syy > 0 else { return .nan }
        return Swift.max(-1, Swift.min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// Spearman's ρ: Pearson's r of the ranks, tied values sharing the average of the ranks they
    /// span (`ranks(_:)`), as `scipy.stats.spearmanr` and R's `cor(method = "spearman")` do.
    /// NaN under the same conditions as `pearson`.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "spearman: \(x.count) x values, \(y.count) y values")
        guard x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return .nan }
        return pearson(ranks(x), ranks(y))
    }

    /// 1-based ranks in ascending order; a run of equal values gets the mean of its ranks
    /// (e.g. [10, 20, 20, 30] → [1, 2.5, 2.5, 4]). Values must be finite.
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] || (x[$0] == x[$1] && $0 < $1) }
        var ranks = [Double](repeating: 0, count: x.count)
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && x[order[end]] == x[order[start]] { end += 1 }
            // positions start..<end hold ranks start+1 … end; their mean is (start + 1 + end) / 2
            let rank = Double(start + 1 + end) / 2
            for k in start..<end { ranks[order[k]] = rank }
            start = end
        }
        return ranks
    }
}
