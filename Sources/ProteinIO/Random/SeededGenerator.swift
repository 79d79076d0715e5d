/// A small, fast, seedable random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Every random choice in the project (masking, splitting ties, random features, initialisation,
/// sampling) draws from one of these, so a run reproduces bit for bit from its seed. The state is
/// four `UInt64`s and can be saved and restored (`state`) for exact resume.
///
/// Reference: Blackman & Vigna, "Scrambled linear pseudorandom number generators" (2021).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four state words from `seed` with SplitMix64, as the xoshiro authors recommend.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= SplitMix64.increment
            return SplitMix64.mix(s)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from a saved `state` (not all zero).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "xoshiro256** state must not be all zero")
        self.state = state
    }

    public static func == (lhs: SeededGenerator, rhs: SeededGenerator) -> Bool {
        lhs.state == rhs.state
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inlinable
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// Uniform integer in 0..<bound (bound > 0), without modulo bias (Lemire's method).
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next(upperBound: UInt64(bound)))
    }

    /// Standard normal N(0, 1) by the Box–Muller transform (one of the pair; simple and reproducible).
    @inlinable
    public mutating func nextGaussian() -> Double {
        // u1 in (0, 1] so log(u1) is finite.
        let u1 = 1.0 - nextDouble()
        let u2 = nextDouble()
        return (-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@usableFromInline func _log(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
