import ProteinIO

extension AttentionTypeMass {
    /// The null model of the similarity matrices: the attention mass that *constant* attention
    /// logits would give on the same windows — every query spreads its weight evenly over the
    /// positions it may see (all `L` positions of its window when bidirectional, positions
    /// `0…i` when causal), whatever the tokens are:
    ///
    ///     bidirectional:  mass[a, b] += c_a · c_b / L                    (c = token counts of the window)
    ///     causal:         mass[a, b] += Σ_{i: x_i = a} n_b(i) / (i + 1)   (n_b(i) = #{j ≤ i : x_j = b})
    ///
    /// Its log-odds reflect only which residues share windows (protein composition, and for
    /// causal models their order), not anything a model learned: the correlation of
    /// `logOdds()` of this mass with BLOSUM62 is the baseline a model's attention has to beat.
    /// One layer and one head; O(L·V) per window.
    public static func constantAttention(types: Int) -> AttentionTypeMass {
        AttentionTypeMass(layers: 1, heads: 1, types: types)
    }

    /// Adds one window of `constantAttention` mass (layers = heads = 1 required). Every token
    /// counts, `<pad>` included, as in `AttentionSimilarity.add(tokens:)`.
    public mutating func addConstantAttention(window tokens: UnsafeBufferPointer<TokenID>, causal: Bool) {
        precondition(layers == 1 && heads == 1, "constant-attention mass has one layer and one head")
        let t = types, l = tokens.count
        guard l > 0 else { return }
        var counts = [Double](repeating: 0, count: t)
        if causal {
            for (i, token) in tokens.enumerated() {
                let a = Int(token)
                counts[a] += 1
                let weight = 1 / Double(i + 1), row = a * t
                for b in 0..<t where counts[b] > 0 { mass[row + b] += counts[b] * weight }
            }
        } else {
            for token in tokens { counts[Int(token)] += 1 }
            let weight = 1 / Double(l)
            for a in 0..<t where counts[a] > 0 {
                for b in 0..<t { mass[a * t + b] += counts[a] * counts[b] * weight }
            }
        }
        for a in 0..<t { tokenCounts[a] += counts[a] }
        windows += 1
    }

    /// `addConstantAttention(window:causal:)` on an array.
    public mutating func addConstantAttention(window tokens: [TokenID], causal: Bool) {
        tokens.withUnsafeBufferPointer { addConstantAttention(window: $0, causal: causal) }
    }
}
