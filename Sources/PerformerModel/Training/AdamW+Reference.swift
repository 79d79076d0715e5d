import Foundation

extension AdamW {
    /// The naive twin of `step`: the textbook AdamW update in Double, one element at a time,
    /// with bias-corrected moments m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ):
    ///
    ///   p ← p·(1 − lr·λ·[i ∈ decayMask]);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
    ///   p ← p − lr·m̂ / (√v̂ + ε).
    ///
    /// `step` must agree with it to Float rounding. `t` is the step number after the increment
    /// (1 on the first step).
    static func stepReference(values: inout [Double], gradients: [Double], m: inout [Double], v: inout [Double],
                              t: Int, learningRate lr: Double, hyperparameters h: Hyperparameters,
                              decayMask: [Range<Int>]) {
        let beta1 = Double(h.beta1), beta2 = Double(h.beta2)
        let epsilon = Double(h.epsilon), lambda = Double(h.weightDecay)
        for i in values.indices {
            if decayMask.contains(where: { $0.contains(i) }) { values[i] *= 1 - lr * lambda }
            m[i] = beta1 * m[i] + (1 - beta1) * gradients[i]
            v[i] = beta2 * v[i] + (1 - beta2) * gradients[i] * gradients[i]
            let mHat = m[i] / (1 - pow(beta1, Double(t)))
            let vHat = v[i] / (1 - pow(beta2, Double(t)))
            values[i] -= lr * mHat / (vHat.squareRoot() + epsilon)
        }
    }
}
