/// SplitMix64 (Steele, Lea & Flood 2014, with Stafford's "mix 13" finaliser): the one seed
/// mixer of the project. It seeds `SeededGenerator`, turns id hashes into split positions, and
/// derives per-layer, per-step and per-shard seeds from a run's seed, so every process draws the
/// same numbers from the same seed.
public enum SplitMix64 {
    /// The golden-ratio increment between consecutive SplitMix64 states.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The output finaliser: a bijection of UInt64 that spreads every input bit.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
