#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

extension CausalLinearAttention {
    /// RNN mode of the causal contraction, for generation: the running prefix state of one
    /// (batch, head) slice, so each new position costs `O(m·d)` whatever its index.
    ///
    /// After appending keys `0…i` the state holds, in the frame of `M = max_{j≤i} s_j`,
    ///
    ///     S = Σ_{j≤i} e^{s_j − M} k̃′_j v_jᵀ   [m, d],     z = Σ_{j≤i} e^{s_j − M} k̃′_j   [m],
    ///
    /// and `read(q′)` returns `(q′ᵀS) / (q′·z)`: the same `out_i` as `forward` at position `i` when
    /// `q′ = q′_i` (equal up to rounding; the frame is the same `M_i`). When a log-scale exceeds
    /// `M` the state is first rescaled by `e^{M − s} < 1`, so nothing overflows.
    public struct State: Sendable {
        /// `m`.
        public let features: Int
        /// `d`.
        public let headDim: Int
        /// Number of keys appended so far.
        public private(set) var count = 0
        /// The frame `M = max_j s_j` over the appended keys (`−∞` while empty, 0 without log-scales).
        public private(set) var runningMax = -Float.infinity
        /// `S` `[m, d]`, row-major.
        public private(set) var numerator: [Float]
        /// `z` `[m]`.
        public private(set) var normalizer: [Float]

        /// An empty state (no keys yet).
        public init(features: Int, headDim: Int) {
            precondition(features >= 1 && headDim >= 1, "bad causal state shape")
            self.features = features
            self.headDim = headDim
            numerator = [Float](repeating: 0, count: features * headDim)
            normalizer = [Float](repeating: 0, count: features)
        }

        /// Forgets every key (keeps the storage).
        public mutating func reset() {
            count = 0
            runningMax = -.infinity
            for i in numerator.indices { numerator[i] = 0 }
            for i in normalizer.indices { normalizer[i] = 0 }
        }

        /// Takes in one position: `S ← S + e^{s − M} k̃′ vᵀ`, `z ← z + e^{s − M} k̃′`, after moving
        /// to the frame `M ← max(M, s)`.
        /// - Parameters:
        ///   - keyFeature: `k̃′` `[m]`.
        ///   - keyLogScale: `s`, or `nil` for 0 (use one convention for the whole sequence).
        ///   - value: `v` `[d]`.
        /// - Complexity: `O(m·d)`.
        public mutating func append(
            keyFeature: UnsafePointer<Float>, keyLogScale: Float?, value: UnsafePointer<Float>
        ) {
            let m = features, d = headDim
            let s = keyLogScale ?? 0
            if count == 0 {
                runningMax = s
            } else if s > runningMax {
                let shrink = exp(runningMax - s)
                numerator.withUnsafeMutableBufferPointer { sscal(n: m * d, alpha: shrink, x: $0.baseAddress!) }
                normalizer.withUnsafeMutableBufferPointer { sscal(n: m, alpha: shrink, x: $0.baseAddress!) }
                runningMax = s
            }
            let weight = exp(s - runningMax)
            numerator.withUnsafeMutableBufferPointer {
                sger(m: m, n: d, alpha: weight, x: keyFeature, y: value, a: $0.baseAddress!, lda: d)
            }
            normalizer.withUnsafeMutableBufferPointer {
                for f in 0..<m { $0[f] += weight * keyFeature[f] }
            }
            count += 1
        }

        /// Array convenience for `append(keyFeature:keyLogScale:value:)`.
        public mutating func append(keyFeature: [Float], keyLogScale: Float?, value: [Float]) {
            precondition(keyFeature.count == features && value.count == headDim, "bad causal state input shape")
            keyFeature.withUnsafeBufferPointer { k in
                value.withUnsafeBufferPointer { v in
                    append(keyFeature: k.baseAddress!, keyLogScale: keyLogScale, value: v.baseAddress!)
                }
            }
        }

        /// The attention output for query `q′` `[m]` over every appended key: writes
        /// `(q′ᵀS) / (q′·z)` `[d]` into `out` and returns the denominator `q′·z` (in the frame
        /// `runningMax`; it equals `forward`'s `normalizer` at this position). Needs `count > 0`.
        /// - Complexity: `O(m·d)`.
        @discardableResult
        public func read(queryFeature: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) -> Float {
            precondition(count > 0, "causal state: read before any key was appended")
            let m = features, d = headDim
            numerator.withUnsafeBufferPointer {
                sgemvTransposed(m: m, n: d, a: $0.baseAddress!, lda: d, x: queryFeature, y: out)
            }
            let denominator = normalizer.withUnsafeBufferPointer {
                sdot(n: m, x: $0.baseAddress!, incX: 1, y: queryFeature)
            }
            let inverse = 1 / denominator
            for t in 0..<d { out[t] *= inverse }
            return denominator
        }

        /// Array convenience for `read(queryFeature:into:)`: returns `out` `[d]`.
        public func read(queryFeature: [Float]) -> [Float] {
            precondition(queryFeature.count == features, "bad causal state query shape")
            var out = [Float](repeating: 0, count: headDim)
            queryFeature.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    _ = read(queryFeature: q.baseAddress!, into: o.baseAddress!)
                }
            }
            return out
        }
    }
}
