/// Next-token targets for causal-LM training on packed windows.
///
/// For each row, with t the position and L the window length:
///   targets[t] = tokens[t + 1] for t < L − 1,    targets[L − 1] = `<pad>`,
///   weights[t] = 1 iff tokens[t] ≠ `<pad>` and targets[t] is learnable, else 0,
/// where a learnable target is a residue (ids 6 – 30) or an end marker (`<sep>`, `<eos>`):
/// the model must learn where a protein ends to stop generating. Targets `<cls>` (always
/// follows `<sep>`, nothing to learn), `<pad>`, `<mask>` and `<unk>` carry no weight. The last
/// position has no next token inside the window (the window is not extended by one token), so
/// 1 target in L is lost; at L = 8192 that is 0.01 %.
///
/// `tokens` are left untouched: the model reads them as they are, attending causally.
public enum CausalTargets {
    /// True when a causal model is trained to predict `id`.
    @inlinable public static func isLearnable(_ id: TokenID) -> Bool {
        Alphabet.isResidue(id) || id == Alphabet.sep || id == Alphabet.eos
    }

    /// Sets `batch.targets` and `batch.weights` as described above.
    public static func apply(to batch: inout Batch) {
        let length = batch.length
        batch.tokens.withUnsafeBufferPointer { tokens in
            batch.targets.withUnsafeMutableBufferPointer { targets in
                batch.weights.withUnsafeMutableBufferPointer { weights in
                    for r in 0..<batch.batch {
                        let base = r * length
                        for t in 0 ..< length - 1 {
                            let next = tokens[base + t + 1]
                            targets[base + t] = next
                            weights[base + t] = tokens[base + t] != Alphabet.pad && isLearnable(next) ? 1 : 0
                        }
                        targets[base + length - 1] = Alphabet.pad
                        weights[base + length - 1] = 0
                    }
                }
            }
        }
    }
}
