/// Naive Double-precision twin of `LayerNorm`: y = (x − μ)/√(σ² + ε) ⊙ γ + β per row, with the
/// biased variance. Shapes: x, y [rows, dim]; γ, β [dim].
public enum LayerNormReference {
    public static func forward(
        input: [Double], weight: [Double], bias: [Double], rows: Int, dim: Int, epsilon: Double
    ) -> [Double] {
        precondition(input.count == rows * dim && weight.count == dim && bias.count == dim)
        var out = [Double](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            var mean = 0.0
            for i in 0..<dim { mean += input[r * dim + i] }
            mean /= Double(dim)
            var variance = 0.0
            for i in 0..<dim { variance += (input[r * dim + i] - mean) * (input[r * dim + i] - mean) }
            variance /= Double(dim)
            let rstd = 1 / (variance + epsilon).squareRoot()
            for i in 0..<dim { out[r * dim + i] = (input[r * dim + i] - mean) * rstd * weight[i] + bias[i] }
        }
        return out
    }
}
