/// The Gaussian error linear unit with the exact erf (Hendrycks & Gimpel 2016; torch.nn.GELU's
/// default, not the tanh approximation):
///
///     GELU(x) = x·Φ(x),   Φ(x) = ½(1 + erf(x/√2)),   GELU'(x) = Φ(x) + x·φ(x),   φ(x) = e^{−x²/2}/√(2π).
///
/// erf is evaluated 8 lanes at a time by the rational approximation of Eigen / XLA / TVM
/// (`generic_fast_erf_float`): x clamped to [−4, 4] (erf is ±1 in Float32 beyond), then
/// erf(x) ≈ x·P(x²)/Q(x²) with P of degree 6 and Q of degree 4. Measured against Double erf in
/// the tests: within 2e-7 absolute on [−6, 6]. No branch, no table, one division per element.
///
/// Shapes: any flat buffer of `count` floats. Saved for backward: the input x (the model keeps
/// the FFN pre-activation u). The model's backward calls `forwardAndDerivative` once (GELU(u)
/// for the W2 gradient and GELU'(u) written over u: one erf per element for both), then the
/// multiply-only `backward(gradient:derivative:)`. Large buffers are split over the cores.
public enum GELU {
    public typealias Vector = SIMD8<Float>

    /// erf(x) for 8 lanes (see the type's documentation for the method and its accuracy).
    @inline(__always)
    public static func erf(_ x: Vector) -> Vector {
        let high = Vector(repeating: 4), low = Vector(repeating: -4)
        // Compare-and-select, not `clamped`: it stays vectorised (see Elementwise.exp).
        let v = x.replacing(with: high, where: x .> high).replacing(with: low, where: x .< low)
        let v2 = v * v
        var p = Vector(repeating: -2.726_142_258_013_06e-10)
        p = p * v2 + 2.770_681_424_959_02e-08
        p = p * v2 - 2.101_024_020_825_08e-06
        p = p * v2 - 5.692_506_394_623_46e-05
        p = p * v2 - 7.349_906_303_268_55e-04
        p = p * v2 - 2.954_599_808_540_25e-03
        p = p * v2 - 1.609_603_332_624_15e-02
        var q = Vector(repeating: -1.456_607_184_649_96e-05)
        q = q * v2 - 2.133_740_552_789_05e-04
        q = q * v2 - 1.682_826_974_382_03e-03
        q = q * v2 - 7.373_329_167_204_68e-03
        q = q * v2 - 1.426_473_905_141_89e-02
        return v * p / q
    }

    static let inverseSqrt2: Float = 0.707_106_781_186_547_524_4
    static let inverseSqrt2Pi: Float = 0.398_942_280_401_432_677_9

    /// y_i = GELU(x_i) (in place when x == y). The work is split into `parallelism`'s workers in
    /// contiguous chunks (elementwise, so the result does not depend on the split).
    public static func forward(
        out y: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count: Int,
        parallelism: SliceParallelism = .serial
    ) {
        parallelism.chunks(count: count) { start, n in
            let x = x + start, y = y + start
            var i = 0
            while i + 8 <= n {
                let v = Elementwise.load(x, i)
                Elementwise.store(0.5 * v * (1 + erf(v * inverseSqrt2)), y, i)
                i += 8
            }
            if i < n {
                let v = Elementwise.loadTail(x, i, n - i)
                Elementwise.storeTail(0.5 * v * (1 + erf(v * inverseSqrt2)), y, i, n - i)
            }
        }
    }

    /// y_i = GELU(x_i) and d_i = GELU'(x_i) in one pass (one erf per element for both). `derivative`
    /// may be `input` itself (the model's backward overwrites the saved pre-activation with the
    /// derivative it needs); `out` must not overlap either.
    ///
    /// - Parameters:
    ///   - out: GELU(x) [count], written.
    ///   - derivative: GELU'(x) [count], written.
    ///   - input: x [count].
    public static func forwardAndDerivative(
        out y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>,
        count: Int, parallelism: SliceParallelism = .serial
    ) {
        parallelism.chunks(count: count) { start, n in
            let x = x + start, y = y + start, dy = derivative + start
            var i = 0
            while i + 8 <= n {
                let v = Elementwise.load(x, i)
                let (value, slope) = valueAndDerivative(v)
                Elementwise.store(value, y, i)
                Elementwise.store(slope, dy, i)
                i += 8
            }
            if i < n {
                let (value, slope) = valueAndDerivative(Elementwise.loadTail(x, i, n - i))
                Elementwise.storeTail(value, y, i, n - i)
                Elementwise.storeTail(slope, dy, i, n - i)
            }
        }
    }

    /// g_i ← g_i · d_i with d = GELU'(x) from `forwardAndDerivative`: the backward once the
    /// derivative is known (a multiply, no erf).
    public static func backward(
        gradient g: UnsafeMutablePointer<Float>, derivative d: UnsafePointer<Float>, count: Int,
        parallelism: SliceParallelism = .serial
    ) {
        parallelism.chunks(count: count) { start, n in
            let g = g + start, d = d + start
            var i = 0
            while i + 8 <= n {
                Elementwise.store(Elementwise.load(g, i) * Elementwise.load(d, i), g, i)
                i += 8
            }
            while i < n {
                g[i] *= d[i]
                i += 1
            }
        }
    }

    /// g_i ← g_i · GELU'(x_i): turns the gradient of the output into the gradient of the input,
    /// in place (the FFN backward keeps one [rows, ffnDim] buffer for both).
    ///
    /// - Parameters:
    ///   - gradient: [count], dGELU on entry, dx on return.
    ///   - input: x [count], the forward's input.
    public static func backward(gradient g: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = Elementwise.load(x, i)
            Elementwise.store(Elementwise.load(g, i) * derivative(v), g, i)
            i += 8
        }
        if i < count {
            let n = count - i
            let v = Elementwise.loadTail(x, i, n)
            Elementwise.storeTail(Elementwise.loadTail(g, i, n) * derivative(v), g, i, n)
        }
    }

    /// GELU'(x) = Φ(x) + x·φ(x).
    @inline(__always)
    static func derivative(_ v: Vector) -> Vector {
        valueAndDerivative(v).derivative
    }

    /// (x·Φ(x), Φ(x) + x·φ(x)).
    @inline(__always)
    static func valueAndDerivative(_ v: Vector) -> (value: Vector, derivative: Vector) {
        let cdf = 0.5 * (1 + erf(v * inverseSqrt2))
        let pdf = Elementwise.exp(-0.5 * v * v) * inverseSqrt2Pi
        return (v * cdf, cdf + v * pdf)
    }
}
