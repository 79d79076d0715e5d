/// Global gradient-norm clipping over one flat gradient buffer, and the non-finite check the
/// trainer runs before every update.
///
/// ```
/// norm = √(Σᵢ gᵢ²)                       accumulated in Double
/// if norm > maxNorm:  g ← g · (maxNorm / norm)
/// ```
///
/// Unlike `torch.nn.utils.clip_grad_norm_` there is no `+ 1e-6` in the divisor, so a clipped
/// gradient has norm `maxNorm` to Float rounding. A NaN or infinite norm never scales anything:
/// the trainer must stop (`isFinite` false; `firstNonFinite` locates the culprit and
/// `nonFiniteMessage` words the one-line error).
public enum GradientClipping {
    /// What `clip` saw and did.
    public struct Outcome: Sendable, Equatable {
        /// The global L2 norm before clipping (NaN or +∞ when some gradient is not finite).
        public var norm: Double
        /// The factor the gradients were multiplied by (1 when not clipped).
        public var scale: Float
        /// False when the norm is NaN or infinite; the step must not be applied.
        public var isFinite: Bool { norm.isFinite }
        /// True when the gradients were scaled down.
        public var clipped: Bool { scale != 1 }
    }

    /// √(Σ g²) over `count` floats, accumulated in Double (four partial sums).
    public static func globalNorm(_ gradients: UnsafePointer<Float>, count: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= count {
            let a = Double(gradients[i]), b = Double(gradients[i + 1])
            let c = Double(gradients[i + 2]), d = Double(gradients[i + 3])
            s0 += a * a
            s1 += b * b
            s2 += c * c
            s3 += d * d
            i += 4
        }
        while i < count {
            let a = Double(gradients[i])
            s0 += a * a
            i += 1
        }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }

    /// The naive twin of `globalNorm`: one Double sum, in order.
    static func globalNormReference(_ gradients: [Float]) -> Double {
        gradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    /// Clips the gradients in place to global norm `maxNorm` and returns the pre-clip norm.
    ///
    /// - Parameter maxNorm: the largest allowed norm; `maxNorm ≤ 0` or `.infinity` disables
    ///   clipping (the norm is still measured).
    /// - Returns: the norm and the scale used; when the norm is not finite nothing is changed.
    @discardableResult
    public static func clip(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double) -> Outcome {
        let norm = globalNorm(gradients, count: count)
        guard norm.isFinite, maxNorm > 0, maxNorm.isFinite, norm > maxNorm else {
            return Outcome(norm: norm, scale: 1)
        }
        let scale = Float(maxNorm / norm)
        Elementwise.scale(gradients, by: scale, into: gradients, count: count)
        return Outcome(norm: norm, scale: scale)
    }

    /// Index of the first NaN or infinite value, or nil when all `count` are finite.
    public static func firstNonFinite(_ values: UnsafePointer<Float>, count: Int) -> Int? {
        for i in 0..<count where !values[i].isFinite { return i }
        return nil
    }

    /// The trainer's one-line stop message, e.g.
    /// `step 1200: gradient norm is nan (first non-finite gradient: blocks.3.attn.wq[17] = nan); stopping before the update — lower the learning rate or check the data (the last checkpoint is intact)`.
    ///
    /// - Parameters:
    ///   - location: where the first bad gradient is, e.g. "blocks.3.attn.wq[17]" (the trainer
    ///     maps `firstNonFinite`'s flat index to a parameter name), or nil.
    ///   - value: that gradient's value.
    public static func nonFiniteMessage(step: Int, norm: Double, location: String? = nil, value: Float? = nil) -> String {
        var text = "step \(step): gradient norm is \(norm.isNaN ? "nan" : norm.isInfinite ? "inf" : "\(norm)")"
        if let location {
            text += " (first non-finite gradient: \(location)"
            if let value { text += " = \(value)" }
            text += ")"
        }
        return text + "; stopping before the update — lower the learning rate or check the data (the last checkpoint is intact)"
    }
}
