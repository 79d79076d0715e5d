import Foundation

/// Linear warmup, then cosine decay to a floor.
///
/// Steps are numbered from 1: step t is the t-th optimizer update, the same t that AdamW uses
/// in its bias correction (`lr = schedule.learningRate(step: optimizer.stepCount + 1)`). With
/// peak η, warmup W, total T and floor ratio r:
///
/// ```
/// lr(t) = η · t / W                                       for 0 ≤ t ≤ W   (W > 0)
/// lr(t) = η · (r + (1 − r) · ½ · (1 + cos(π · (t − W) / (T − W))))   for W < t ≤ T
/// lr(t) = η · r                                           for t > T
/// ```
///
/// So lr(0) = 0 (before any update), the first update uses η/W, update W uses η exactly, the
/// decay is continuous at W (cos 0 = 1), update T uses r·η and later updates stay there. With
/// W = 0 there is no warmup (lr(0) = η). The value is computed in Double and rounded to Float.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    /// η, the learning rate at the end of warmup.
    public var peak: Double
    /// W, number of warmup updates (≥ 0).
    public var warmupSteps: Int
    /// T, the update at which the cosine reaches the floor (≥ W).
    public var totalSteps: Int
    /// r, the floor as a fraction of the peak, in [0, 1].
    public var minRatio: Double

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, minRatio: Double = 0.1) {
        precondition(peak >= 0 && warmupSteps >= 0 && totalSteps >= warmupSteps, "need peak ≥ 0 and 0 ≤ warmup ≤ total")
        precondition((0...1).contains(minRatio), "minRatio must lie in [0, 1]")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// The learning rate of update `step` (1-based; see the type's description).
    public func learningRate(step: Int) -> Float {
        Float(value(step: step))
    }

    /// `learningRate(step:)` before the rounding to Float.
    public func value(step t: Int) -> Double {
        precondition(t >= 0, "negative step")
        if t <= warmupSteps {
            return warmupSteps == 0 ? peak : peak * Double(t) / Double(warmupSteps)
        }
        if t >= totalSteps { return peak * minRatio }
        let progress = Double(t - warmupSteps) / Double(totalSteps - warmupSteps)
        return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + cos(Double.pi * progress)))
    }

    enum CodingKeys: String, CodingKey {
        case peak
        case warmupSteps = "warmup_steps"
        case totalSteps = "total_steps"
        case minRatio = "min_ratio"
    }

    /// Decodes and checks the ranges (a stored configuration is input data: no precondition trap).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let peak = try c.decode(Double.self, forKey: .peak)
        let warmup = try c.decode(Int.self, forKey: .warmupSteps)
        let total = try c.decode(Int.self, forKey: .totalSteps)
        let ratio = try c.decode(Double.self, forKey: .minRatio)
        guard peak >= 0, warmup >= 0, total >= warmup, (0...1).contains(ratio) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: c.codingPath,
                debugDescription: "learning-rate schedule needs peak ≥ 0, 0 ≤ warmup_steps ≤ total_steps, min_ratio in [0, 1]"))
        }
        self.init(peak: peak, warmupSteps: warmup, totalSteps: total, minRatio: ratio)
    }
}
