import Foundation

/// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) over one
/// flat parameter buffer, with the exact update of `torch.optim.AdamW` (single-tensor path,
/// `amsgrad=False`, `maximize=False`):
///
/// ```
/// t ← t + 1                                   (stepCount; 1 on the first step)
/// p ← p · (1 − lr·λ)                          only for indices inside decayMask
/// m ← m + (1 − β₁)·(g − m)                    (torch's lerp_, = β₁·m + (1 − β₁)·g)
/// v ← v·β₂ + ((1 − β₂)·g)·g
/// p ← p + (−lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Buffers (P = parameterCount): values, gradients, `m`, `v` are all [P]. As in torch, the
/// per-step scalars 1 − lr·λ, lr / (1 − β₁ᵗ) and √(1 − β₂ᵗ) are computed in Double and rounded
/// to Float once; the element-wise work is Float32 in torch's operation order, so results match
/// torch to within a few ulps (the test states the bound) and a Double reference to ~1e-6.
///
/// Defaults: β₁ = 0.9, **β₂ = 0.98**, ε = 1e-8, λ = 0.01. β₂ = 0.98 (RoBERTa, ESM-2) rather
/// than torch's 0.999: the second moment forgets in ~50 steps instead of ~1000, which keeps
/// large-batch transformer LM training stable when gradient scales shift early in training.
/// Pass `beta2: 0.999` for torch's default.
///
/// Weight decay applies only to flat indices inside `decayMask` (weight matrices); biases,
/// LayerNorm gains and other entries outside it are not decayed, like a second torch param
/// group with `weight_decay=0`.
///
/// - Complexity: O(P) per step, one pass over four buffers; allocates nothing but the merged
///   decay ranges.
public final class AdamW {
    /// The optimizer's settings; `Codable` with snake_case keys for checkpoint metadata.
    public struct Hyperparameters: Codable, Sendable, Equatable {
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float

        public init(beta1: Float = 0.9, beta2: Float = 0.98, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }

        enum CodingKeys: String, CodingKey {
            case beta1, beta2, epsilon
            case weightDecay = "weight_decay"
        }
    }

    /// Number of parameters P.
    public let parameterCount: Int
    public let hyperparameters: Hyperparameters
    /// First moment m, [P] (zero before the first step).
    public let m: Tensor
    /// Second moment v, [P] (zero before the first step).
    public let v: Tensor
    /// Number of steps taken (t); the next step uses t + 1 in its bias correction.
    public private(set) var stepCount: Int = 0

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.98, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        precondition(parameterCount >= 0, "negative parameter count")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "betas must lie in [0, 1)")
        precondition(epsilon >= 0 && weightDecay >= 0, "epsilon and weight decay must be ≥ 0")
        self.parameterCount = parameterCount
        hyperparameters = Hyperparameters(beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        m = Tensor(shape: [parameterCount])
        v = Tensor(shape: [parameterCount])
    }

    public convenience init(parameterCount: Int, hyperparameters h: Hyperparameters) {
        self.init(parameterCount: parameterCount, beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon, weightDecay: h.weightDecay)
    }

    /// One AdamW update of `values` in place (see the type's description).
    ///
    /// - Parameters:
    ///   - values: parameters p, [count]; updated in place.
    ///   - gradients: ∂loss/∂p, [count]; not modified (clip them before).
    ///   - count: must equal `parameterCount`.
    ///   - learningRate: lr for this step (from the schedule).
    ///   - decayMask: ranges of flat indices that get weight decay; may be unsorted or overlap,
    ///     must lie within 0 ..< count.
    public func step(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int,
                     learningRate: Float, decayMask: [Range<Int>]) {
        precondition(count == parameterCount, "step over \(count) values, optimizer has \(parameterCount)")
        stepCount += 1
        let h = hyperparameters
        let t = Double(stepCount)
        let lr = Double(learningRate)
        let biasCorrection1 = 1 - pow(Double(h.beta1), t)
        let biasCorrection2 = 1 - pow(Double(h.beta2), t)
        let constants = StepConstants(
            oneMinusBeta1: Float(1 - Double(h.beta1)),
            beta2: h.beta2,
            oneMinusBeta2: Float(1 - Double(h.beta2)),
            negativeStepSize: Float(-(lr / biasCorrection1)),
            biasCorrection2Sqrt: Float(biasCorrection2.squareRoot()),
            epsilon: h.epsilon)
        // torch skips the multiply when λ = 0; multiplying by exactly 1 changes nothing either.
        let decayFactor = Float(1 - lr * Double(h.weightDecay))

        var next = 0
        for range in AdamW.merged(decayMask, count: count) {
            AdamW.update(values, gradients, m.data, v.data, next ..< range.lowerBound, decayFactor: 1, constants)
            AdamW.update(values, gradients, m.data, v.data, range, decayFactor: decayFactor, constants)
            next = range.upperBound
        }
        AdamW.update(values, gradients, m.data, v.data, next ..< count, decayFactor: 1, constants)
    }

    /// Sets the state read back from a checkpoint: the step count and both moments ([P] each).
    public func restore(stepCount: Int, m newM: UnsafePointer<Float>, v newV: UnsafePointer<Float>) {
        precondition(stepCount >= 0, "negative step count")
        self.stepCount = stepCount
        m.data.update(from: newM, count: parameterCount)
        v.data.update(from: newV, count: parameterCount)
    }

    /// Back to the initial state: zero moments, step count 0.
    public func reset() {
        stepCount = 0
        m.zero()
        v.zero()
    }

    struct StepConstants {
        var oneMinusBeta1: Float
        var beta2: Float
        var oneMinusBeta2: Float
        var negativeStepSize: Float
        var biasCorrection2Sqrt: Float
        var epsilon: Float
    }

    /// The element loop over one range; `decayFactor` is 1 − lr·λ inside the decay mask, 1 outside.
    /// Eight lanes at a time (`SIMD8<Float>`, the same operations per lane, so the same bits as
    /// the scalar tail), then one element at a time.
    @inline(__always)
    static func update(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                       _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                       _ range: Range<Int>, decayFactor: Float, _ c: StepConstants) {
        typealias V = SIMD8<Float>
        var start = range.lowerBound
        let oneMinusBeta1 = V(repeating: c.oneMinusBeta1), beta2 = V(repeating: c.beta2)
        let oneMinusBeta2 = V(repeating: c.oneMinusBeta2), negativeStepSize = V(repeating: c.negativeStepSize)
        let biasCorrection2Sqrt = V(repeating: c.biasCorrection2Sqrt), epsilon = V(repeating: c.epsilon)
        let decay = V(repeating: decayFactor)
        while start + 8 <= range.upperBound {
            let decayed = UnsafeRawPointer(p + start).loadUnaligned(as: V.self) * decay
            let grad = UnsafeRawPointer(g + start).loadUnaligned(as: V.self)
            let m0 = UnsafeRawPointer(m + start).loadUnaligned(as: V.self)
            let v0 = UnsafeRawPointer(v + start).loadUnaligned(as: V.self)
            let mi = m0 + oneMinusBeta1 * (grad - m0)
            let vi = v0 * beta2 + oneMinusBeta2 * grad * grad
            UnsafeMutableRawPointer(m + start).storeBytes(of: mi, as: V.self)
            UnsafeMutableRawPointer(v + start).storeBytes(of: vi, as: V.self)
            let denominator = vi.squareRoot() / biasCorrection2Sqrt + epsilon
            UnsafeMutableRawPointer(p + start).storeBytes(of: decayed + negativeStepSize * mi / denominator, as: V.self)
            start += 8
        }
        for i in start ..< range.upperBound {
            let decayed = p[i] * decayFactor
            let grad = g[i]
            let mi = m[i] + c.oneMinusBeta1 * (grad - m[i])
            let vi = v[i] * c.beta2 + c.oneMinusBeta2 * grad * grad
            m[i] = mi
            v[i] = vi
            let denominator = vi.squareRoot() / c.biasCorrection2Sqrt + c.epsilon
            p[i] = decayed + c.negativeStepSize * mi / denominator
        }
    }

    /// `ranges` sorted, clamped-checked and merged where they overlap or touch.
    static func merged(_ ranges: [Range<Int>], count: Int) -> [Range<Int>] {
        var sorted = ranges.filter { !$0.isEmpty }
        for r in sorted { precondition(r.lowerBound >= 0 && r.upperBound <= count, "decay range \(r) outside 0..<\(count)") }
        sorted.sort { $0.lowerBound < $1.lowerBound }
        var out: [Range<Int>] = []
        for r in sorted {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound ..< max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }
}
