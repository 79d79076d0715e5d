import ProteinIO

/// Naive Double-precision twin of `Embedding`: x[r] = E[tokens[r]].
/// Shapes: tokens [rows], E [vocab, dim], x [rows, dim].
public enum EmbeddingReference {
    public static func forward(tokens: [TokenID], weight: [Double], vocab: Int, dim: Int) -> [Double] {
        precondition(weight.count == vocab * dim)
        var out: [Double] = []
        out.reserveCapacity(tokens.count * dim)
        for token in tokens {
            precondition(Int(token) < vocab)
            out += weight[(Int(token) * dim)..<((Int(token) + 1) * dim)]
        }
        return out
    }
}
