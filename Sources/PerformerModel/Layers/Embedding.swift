import ProteinIO

/// Token embedding: row t of E for every token t, x[r] = E[tokens[r]].
///
/// Shapes: tokens [rows] (ids < vocab), E (weight) [vocab, dim], x [rows, dim]. Saved for
/// backward: nothing but the tokens, which the caller has. No √dim scale (as ESM): the pre-LN
/// blocks normalise what they read, and the tied LM head reads E at its own scale.
public enum Embedding {
    /// x[r] = E[tokens[r]].
    ///
    /// - Parameters:
    ///   - out: x [rows, dim], written.
    ///   - tokens: [rows], every id < vocab (checked: an id out of range traps, since it would
    ///     read outside E).
    ///   - weight: E [vocab, dim].
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafeBufferPointer<TokenID>, weight: UnsafePointer<Float>,
        vocab: Int, dim: Int
    ) {
        checkTokens(tokens, vocab: vocab)
        for (r, token) in tokens.enumerated() {
            (out + r * dim).update(from: weight + Int(token) * dim, count: dim)
        }
    }

    /// Scatter-add of the row gradients into the table: dE[tokens[r]] += dx[r], rows in order
    /// (a token that occurs several times gets the sum of its rows).
    ///
    /// - Parameters:
    ///   - dWeight: dE [vocab, dim], accumulated.
    ///   - dOut: dx [rows, dim].
    ///   - tokens: [rows], as in the forward.
    public static func backward(
        dWeight: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, tokens: UnsafeBufferPointer<TokenID>,
        vocab: Int, dim: Int
    ) {
        checkTokens(tokens, vocab: vocab)
        for (r, token) in tokens.enumerated() {
            Elementwise.add(dOut + r * dim, to: dWeight + Int(token) * dim, count: dim)
        }
    }

    /// Traps on an id ≥ vocab. Token ids come from `Tokenizer` (always < `Alphabet.count`); a
    /// larger one is a programmer error (a model built for a smaller vocabulary). It is an explicit
    /// check rather than a `precondition` because this module is compiled with -Ounchecked, where
    /// a failed precondition would turn into an out-of-bounds read instead of a trap.
    static func checkTokens(_ tokens: UnsafeBufferPointer<TokenID>, vocab: Int) {
        if vocab > Int(TokenID.max) { return }
        let limit = TokenID(vocab)
        var bad: TokenID = 0
        for token in tokens where token >= limit { bad = token }
        if bad >= limit {
            fatalError("token id \(bad) is outside the model's vocabulary of \(vocab)")
        }
    }
}
