/// Naive Double-precision twin of `Linear`: y = x·W + b with plain loops.
/// Shapes: x [rows, inputs], W [inputs, outputs], b [outputs] (or empty for none), y [rows, outputs].
public enum LinearReference {
    public static func forward(
        input: [Double], weight: [Double], bias: [Double], rows: Int, inputs: Int, outputs: Int
    ) -> [Double] {
        precondition(input.count == rows * inputs && weight.count == inputs * outputs)
        precondition(bias.isEmpty || bias.count == outputs)
        var out = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var s = bias.isEmpty ? 0 : bias[o]
                for i in 0..<inputs { s += input[r * inputs + i] * weight[i * outputs + o] }
                out[r * outputs + o] = s
            }
        }
        return out
    }
}
