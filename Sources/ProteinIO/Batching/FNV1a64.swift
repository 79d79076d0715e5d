/// The 64-bit FNV-1a hash (Fowler, Noll, Vo; specified in draft-eastlake-fnv):
///   h₀ = 0xcbf29ce484222325,  hᵢ₊₁ = (hᵢ XOR byteᵢ) · 0x100000001b3  (mod 2⁶⁴).
///
/// Unlike Swift's `Hasher`, which is seeded randomly per process, it gives the same value for
/// the same bytes in every run on every machine, so it can decide durable things such as the
/// train/validation side of a protein.
public enum FNV1a64 {
    /// The 64-bit offset basis.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The 64-bit FNV prime, 2⁴⁰ + 2⁸ + 0xb3.
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// FNV-1a of `bytes`, continuing from `state` (start from `offsetBasis`).
    @inlinable
    public static func hash<S: Sequence>(_ bytes: S, from state: UInt64 = offsetBasis) -> UInt64
    where S.Element == UInt8 {
        var h = state
        for byte in bytes { h = (h ^ UInt64(byte)) &* prime }
        return h
    }

    /// FNV-1a of the UTF-8 bytes of `text`.
    @inlinable
    public static func hash<S: StringProtocol>(_ text: S) -> UInt64 {
        hash(text.utf8)
    }
}
