/// Vectorised elementwise kernels over raw Float32 buffers (8 lanes at a time with `SIMD8<Float>`,
/// then a masked tail), the non-GEMM part of every layer. None of them allocates.
///
/// Pointers may be unaligned (slices start anywhere). Unless stated, `x` and `y` may be the same
/// buffer (in-place), but must not otherwise overlap. Each kernel has a naive scalar twin in
/// `ElementwiseReference` that the tests hold it against.
public enum Elementwise {
    public typealias Vector = SIMD8<Float>

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
    }

    @inlinable @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self)
    }

    /// Loads the `n < 8` tail elements at `p + i`, padding with `pad`.
    @inlinable @inline(__always)
    static func loadTail(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int, pad: Float = 0) -> Vector {
        var v = Vector(repeating: pad)
        for lane in 0..<n { v[lane] = p[i + lane] }
        return v
    }

    @inlinable @inline(__always)
    static func storeTail(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
        for lane in 0..<n { p[i + lane] = v[lane] }
    }

    // MARK: exp

    /// e^x for 8 lanes, within about 2 ulp of the correctly rounded result.
    ///
    /// Range reduction x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in a short high part and a
    /// low correction, so n·ln2_hi is exact), e^r by its Taylor polynomial to degree 7 (truncation
    /// error r⁸/8! < 6·10⁻⁹), and 2ⁿ assembled in the exponent bits. Inputs below −87.3 give 0
    /// (results that would be subnormal are flushed), above 88.7228 give +∞, NaN stays NaN.
    @inlinable @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let log2e: Float = 1.442_695_04
        let ln2High: Float = 0.693_359_375  // 8 significant bits: n · ln2High is exact for |n| ≤ 128
        let ln2Low: Float = -2.121_944_4e-4  // ln2 − ln2High
        let underflow: Float = -87.3
        let overflow: Float = 88.7228  // just below ln(Float.greatestFiniteMagnitude) = 88.72284
        // Clamp with compare-and-select: `clamped`/`pointwiseMin` follow IEEE minimum() lane by
        // lane and compile to scalar code, while comparisons and `replacing` stay vector ops.
        let low = Vector(repeating: underflow), high = Vector(repeating: overflow)
        let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // Round x·log2(e) to the nearest integer n by adding 1.5·2²³: the sum's low mantissa bits
        // hold n, and subtracting the constant again gives n as a float.
        let magic: Float = 12_582_912
        let shifted = clamped * log2e + magic
        let n = shifted - magic
        let r = (clamped - n * ln2High) - n * ln2Low
        // e^r ≈ Σ_{k≤7} r^k / k!, Horner form.
        var p = Vector(repeating: 1.0 / 5040)
        p = p * r + (1.0 / 720)
        p = p * r + (1.0 / 120)
        p = p * r + (1.0 / 24)
        p = p * r + (1.0 / 6)
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2ⁿ: integer n sits in the low bits of `shifted` (offset by the bits of `magic`). It is
        // applied as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋) so that both factors are normal floats for every n in
        // [−126, 128] (2¹²⁸ itself is not representable, yet p·2¹²⁸ can be for p < 1).
        let shiftedBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self)
        let magicBits = Int32(bitPattern: magic.bitPattern)
        let integerN = shiftedBits &- magicBits
        let half = integerN &>> 1
        let firstFactor = unsafeBitCast((half &+ 127) &<< 23, to: Vector.self)
        let secondFactor = unsafeBitCast((integerN &- half &+ 127) &<< 23, to: Vector.self)
        var result = p * firstFactor * secondFactor
        result.replace(with: 0, where: x .< underflow)
        result.replace(with: .infinity, where: x .> overflow)
        // NaN needs no select: both clamp comparisons are false for it and it propagates.
        return result
    }

    /// y_i = exp(x_i − shift) · scale + offset, for i in 0..<count (in place when x == y).
    /// The feature maps use it as exp(u − max u)/√m + ε; softmax as exp(s − max s).
    @inlinable
    public static func exp(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        shift: Float = 0, scale: Float = 1, offset: Float = 0
    ) {
        let vShift = Vector(repeating: shift), vScale = Vector(repeating: scale), vOffset = Vector(repeating: offset)
        var i = 0
        while i + 8 <= count {
            store(exp(load(x, i) - vShift) * vScale + vOffset, y, i)
            i += 8
        }
        if i < count {
            let n = count - i
            storeTail(exp(loadTail(x, i, n) - vShift) * vScale + vOffset, y, i, n)
        }
    }

    // MARK: maps

    /// y_i = max(x_i, 0) · scale + offset (in place when x == y).
    @inlinable
    public static func relu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        scale: Float = 1, offset: Float = 0
    ) {
        let zero = Vector(repeating: 0), vScale = Vector(repeating: scale), vOffset = Vector(repeating: offset)
        var i = 0
        while i + 8 <= count {
            store(load(x, i).replacing(with: zero, where: load(x, i) .< zero) * vScale + vOffset, y, i)
            i += 8
        }
        while i < count {
            y[i] = Swift.max(x[i], 0) * scale + offset
            i += 1
        }
    }

    /// y_i = a · x_i (in place when x == y).
    @inlinable
    public static func scale(_ x: UnsafePointer<Float>, by a: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        let va = Vector(repeating: a)
        var i = 0
        while i + 8 <= count {
            store(load(x, i) * va, y, i)
            i += 8
        }
        while i < count {
            y[i] = a * x[i]
            i += 1
        }
    }

    /// y_i += a · x_i (BLAS axpy).
    @inlinable
    public static func addScaled(_ x: UnsafePointer<Float>, by a: Float, to y: UnsafeMutablePointer<Float>, count: Int) {
        let va = Vector(repeating: a)
        var i = 0
        while i + 8 <= count {
            store(load(y, i) + va * load(x, i), y, i)
            i += 8
        }
        while i < count {
            y[i] += a * x[i]
            i += 1
        }
    }

    /// y_i += x_i.
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        addScaled(x, by: 1, to: y, count: count)
    }

    /// g_i = g_i · (y_i − offset); returns Σ_i g_i (after the update).
    ///
    /// The backward of y = exp(u)·c + offset with respect to u: ∂L/∂u = ∂L/∂y ⊙ (y − offset).
    @inlinable
    public static func multiplyBySubtracting(
        _ g: UnsafeMutablePointer<Float>, by y: UnsafePointer<Float>, offset: Float, count: Int
    ) -> Float {
        let vOffset = Vector(repeating: offset)
        var sum = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let v = load(g, i) * (load(y, i) - vOffset)
            store(v, g, i)
            sum += v
            i += 8
        }
        var total = sum.sum()
        while i < count {
            g[i] *= y[i] - offset
            total += g[i]
            i += 1
        }
        return total
    }

    /// g_i = y_i > threshold ? g_i · scale : 0. The backward of y = ReLU(u)·scale + threshold,
    /// reading the mask from the output (y > threshold exactly when u > 0).
    @inlinable
    public static func reluBackward(
        _ g: UnsafeMutablePointer<Float>, output y: UnsafePointer<Float>, threshold: Float, scale: Float, count: Int
    ) {
        let vThreshold = Vector(repeating: threshold), vScale = Vector(repeating: scale), zero = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let v = (load(g, i) * vScale).replacing(with: zero, where: load(y, i) .<= vThreshold)
            store(v, g, i)
            i += 8
        }
        while i < count {
            g[i] = y[i] > threshold ? g[i] * scale : 0
            i += 1
        }
    }

    // MARK: reductions

    /// max_i x_i (−∞ for count 0).
    @inlinable
    public static func max(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var best = Vector(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = load(x, i)
            best.replace(with: v, where: v .> best)  // (not pointwiseMax: see exp)
            i += 8
        }
        var result = best[0]
        for lane in 1..<8 { result = Swift.max(result, best[lane]) }
        while i < count {
            result = Swift.max(result, x[i])
            i += 1
        }
        return result
    }

    /// Σ_i x_i.
    @inlinable
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += load(x, i)
            i += 8
        }
        var result = acc.sum()
        while i < count {
            result += x[i]
            i += 1
        }
        return result
    }

    /// Σ_i x_i · y_i.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += load(x, i) * load(y, i)
            i += 8
        }
        var result = acc.sum()
        while i < count {
            result += x[i] * y[i]
            i += 1
        }
        return result
    }
}
