import Foundation
import ProteinIO
@testable import PerformerModel

/// One random (batch, head) slice for the causal attention tests, in Float (what the kernels
/// take) with Double copies for the references.
struct CausalCase: CustomStringConvertible, Sendable {
    /// How the key log-scales are drawn.
    enum LogScales: Sendable, CustomStringConvertible {
        /// No log-scales (favor-relu style keys).
        case none
        /// Uniform in [−spread, spread].
        case uniform(Float)
        /// Strictly increasing from −step·L/2 in steps of `step`: the running max grows at every row.
        case ascending(Float)
        /// Strictly decreasing: the running max never moves after row 0.
        case descending(Float)

        var description: String {
            switch self {
            case .none: "none"
            case .uniform(let s): "uniform±\(s)"
            case .ascending(let s): "ascending\(s)"
            case .descending(let s): "descending\(s)"
            }
        }
    }

    let length: Int, features: Int, headDim: Int
    var q: [Float], k: [Float], s: [Float]?, v: [Float]
    let scales: LogScales

    var description: String { "L=\(length) m=\(features) d=\(headDim) s=\(scales)" }

    init(length: Int, features: Int, headDim: Int, scales: LogScales, seed: UInt64) {
        self.length = length
        self.features = features
        self.headDim = headDim
        self.scales = scales
        var rng = SeededGenerator(seed: seed)
        let m = features
        let rootM = Float(m).squareRoot()
        // Queries: positive, as the feature maps make them (entries ≥ ε > 0).
        q = (0..<(length * m)).map { _ in (0.05 + rng.nextFloat()) / rootM }
        switch scales {
        case .none:
            // favor-relu style: ReLU(·)/√m + ε.
            k = (0..<(length * m)).map { _ in (max(0, Float(rng.nextGaussian())) + 1e-3) / rootM }
            s = nil
        default:
            // favor-softmax style: exp(x − max x)/√m, so each row's max entry is exactly 1/√m.
            k = []
            for _ in 0..<length {
                let x = (0..<m).map { _ in Float(rng.nextGaussian()) }
                let top = x.max() ?? 0
                k += x.map { Float(exp(Double($0 - top))) / rootM }
            }
            var logs = [Float](repeating: 0, count: length)
            for j in 0..<length {
                switch scales {
                case .uniform(let spread): logs[j] = (2 * rng.nextFloat() - 1) * spread
                case .ascending(let step): logs[j] = step * Float(j - length / 2)
                case .descending(let step): logs[j] = -step * Float(j - length / 2)
                case .none: break
                }
            }
            s = logs
        }
        v = (0..<(length * headDim)).map { _ in Float(rng.nextGaussian()) }
    }

    var qDouble: [Double] { q.map(Double.init) }
    var kDouble: [Double] { k.map(Double.init) }
    var sDouble: [Double]? { s?.map(Double.init) }
    var vDouble: [Double] { v.map(Double.init) }

    /// The chunked Float forward.
    func forward(chunk: Int, scratch: Bool = false) -> (out: [Float], normalizer: [Float]) {
        let run = forward(chunk: chunk, scratch: scratch, keepingProducts: false)
        return (run.out, run.normalizer)
    }

    /// The chunked Float forward, with the chunk products it keeps for the backward (a buffer of
    /// `chunkProductCount` floats that starts as NaN) when `keepingProducts`.
    func forward(chunk: Int, scratch: Bool = false, keepingProducts: Bool) -> (out: [Float], normalizer: [Float], products: [Float]?) {
        var products = [Float](repeating: .nan, count: keepingProducts
            ? CausalLinearAttention.chunkProductCount(length: length, chunk: chunk) : 0)
        var out = [Float](repeating: .nan, count: length * headDim)
        var normalizer = [Float](repeating: .nan, count: length)
        var work = [Float](repeating: .nan, count: scratch
            ? CausalLinearAttention.forwardScratchCount(length: length, features: features, headDim: headDim,
                                                        chunk: chunk)
            : 0)
        let logScale = s
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    withOptionalPointer(logScale) { s in
                        out.withUnsafeMutableBufferPointer { o in
                            normalizer.withUnsafeMutableBufferPointer { z in
                                work.withUnsafeMutableBufferPointer { w in
                                    products.withUnsafeMutableBufferPointer { a in
                                        CausalLinearAttention.forward(
                                            out: o.baseAddress!, normalizer: z.baseAddress!,
                                            queryFeatures: q.baseAddress!, keyFeatures: k.baseAddress!,
                                            keyLogScale: s, values: v.baseAddress!,
                                            length: length, features: features, headDim: headDim,
                                            chunk: chunk, scratch: scratch ? w.baseAddress : nil,
                                            chunkProducts: keepingProducts ? a.baseAddress : nil)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (out, normalizer, keepingProducts ? products : nil)
    }

    /// The chunked Float backward, accumulating into copies of the given gradients
    /// (`chunksPerGroup`: how many chunks the second pass hands over at a time; default its own).
    func backward(
        dOut: [Float], out: [Float], normalizer: [Float], chunk: Int,
        dq initialQ: [Float], dk initialK: [Float], dv initialV: [Float], chunksPerGroup: Int? = nil,
        chunkProducts: [Float]? = nil
    ) -> (dq: [Float], dk: [Float], dv: [Float]) {
        var dq = initialQ, dk = initialK, dv = initialV
        let logScale = s
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    withOptionalPointer(logScale) { s in
                        dOut.withUnsafeBufferPointer { g in
                            out.withUnsafeBufferPointer { o in
                                normalizer.withUnsafeBufferPointer { z in
                                    dq.withUnsafeMutableBufferPointer { dq in
                                        dk.withUnsafeMutableBufferPointer { dk in
                                            dv.withUnsafeMutableBufferPointer { dv in
                                              withOptionalPointer(chunkProducts) { products in
                                                CausalLinearAttention.backward(
                                                    dQueryFeatures: dq.baseAddress!, dKeyFeatures: dk.baseAddress!,
                                                    dValues: dv.baseAddress!, dOut: g.baseAddress!,
                                                    out: o.baseAddress!, normalizer: z.baseAddress!,
                                                    queryFeatures: q.baseAddress!, keyFeatures: k.baseAddress!,
                                                    keyLogScale: s, values: v.baseAddress!,
                                                    length: length, features: features, headDim: headDim,
                                                    chunk: chunk, chunksPerGroup: chunksPerGroup,
                                                    chunkProducts: products)
                                              }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }
}

func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Normwise relative error `max_i |x_i − y_i| / max_i |y_i|` (y the reference).
func normwiseError<X: BinaryFloatingPoint, Y: BinaryFloatingPoint>(_ x: [X], _ y: [Y]) -> Double {
    precondition(x.count == y.count)
    var diff = 0.0, scale = 0.0
    for (a, b) in zip(x, y) {
        diff = max(diff, abs(Double(a) - Double(b)))
        scale = max(scale, abs(Double(b)))
    }
    return scale == 0 ? diff : diff / scale
}

/// Elementwise relative error `max_i |x_i − y_i| / |y_i|`.
func elementwiseError<X: BinaryFloatingPoint, Y: BinaryFloatingPoint>(_ x: [X], _ y: [Y]) -> Double {
    precondition(x.count == y.count)
    var worst = 0.0
    for (a, b) in zip(x, y) {
        worst = max(worst, abs(Double(a) - Double(b)) / abs(Double(b)))
    }
    return worst
}

/// The gradients of the reference backward with every term replaced by its absolute value:
/// `Σ_{j≤i} w_ij (|g_i·v_j| + |g_i·out_i|)/D̂_i k̃′_j` for ∂q′, the same over `i ≥ j` with `q′_i`
/// for ∂k̃′, and `Σ_{i≥j} A_ij |g_i| / D̂_i` for ∂v — the scale against which a floating-point
/// evaluation of the split form `g·v/D̂ − g·out/D̂` is accurate (the usual `γ_n Σ|terms|` bound).
/// Where `out_i ≈ v_j` the true gradient is much smaller than this (cancellation no linear-time
/// algorithm avoids, since it never forms `v_j − out_i`), so the tests measure errors against it.
func causalGradientMagnitudes(_ c: CausalCase, dOut: [Double]) -> (dq: [Double], dk: [Double], dv: [Double]) {
    let l = c.length, m = c.features, d = c.headDim
    let q = c.qDouble, k = c.kDouble, v = c.vDouble, s = c.sDouble
    let (out, normalizer) = CausalLinearAttention.forwardReference(
        queryFeatures: q, keyFeatures: k, keyLogScale: s, values: v, length: l, features: m, headDim: d)
    var dq = [Double](repeating: 0, count: l * m)
    var dk = [Double](repeating: 0, count: l * m)
    var dv = [Double](repeating: 0, count: l * d)
    var running = -Double.infinity
    var maxima = [Double](repeating: 0, count: l)
    for i in 0..<l {
        running = max(running, s?[i] ?? 0)
        maxima[i] = running
    }
    for i in 0..<l {
        var gOut = 0.0
        for t in 0..<d { gOut += dOut[i * d + t] * out[i * d + t] }
        for j in 0...i {
            let w = exp((s?[j] ?? 0) - maxima[i])
            var gv = 0.0, dot = 0.0
            for t in 0..<d { gv += dOut[i * d + t] * v[j * d + t] }
            for f in 0..<m { dot += q[i * m + f] * k[j * m + f] }
            let term = w * (abs(gv) + abs(gOut)) / normalizer[i]
            for f in 0..<m {
                dq[i * m + f] += term * k[j * m + f]
                dk[j * m + f] += term * q[i * m + f]
            }
            for t in 0..<d { dv[j * d + t] += w * dot * abs(dOut[i * d + t]) / normalizer[i] }
        }
    }
    return (dq, dk, dv)
}

/// `max_i |x_i − y_i| / max_i scale_i`.
func scaledError<X: BinaryFloatingPoint>(_ x: [X], _ y: [Double], scale: [Double]) -> Double {
    precondition(x.count == y.count && y.count == scale.count)
    var diff = 0.0
    for (a, b) in zip(x, y) { diff = max(diff, abs(Double(a) - b)) }
    return diff / (scale.max() ?? 1)
}
