/// The 64-bit CRC that UniProtKB prints on every SQ line (`… 7CA7DE79E73EEE26 CRC64;`).
///
/// Definition (SWISS-PROT / ISO 3309 CRC-64): generator polynomial x⁶⁴ + x⁴ + x³ + x + 1,
/// processed least-significant bit first (the reflected form of 0x1B is 0xD800000000000000),
/// initial value 0, no final XOR, over the sequence's ASCII bytes. Printed as 16 uppercase hex
/// digits. Check value: `CRC64.checksum("IHATEMATH".utf8) == 0xE3DCADD69B01ADD1` (the example of
/// the SWISS::CRC64 Perl module that ships with UniProt's Swissknife).
public enum CRC64 {
    /// The reflected generator polynomial.
    public static let polynomial: UInt64 = 0xD800_0000_0000_0000

    /// `table[i]` = the CRC register after shifting the byte `i` through 8 bit steps.
    static let table: [UInt64] = (0..<256).map { index in
        var crc = UInt64(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
        return crc
    }

    /// The CRC64 of `count` bytes at `bytes`, continuing from `crc` (0 to start).
    ///
    /// Table-driven, one byte per step: crc ← table[(crc ⊕ b) & 0xFF] ⊕ (crc >> 8).
    /// - Complexity: O(count).
    public static func update(_ crc: UInt64, _ bytes: UnsafePointer<UInt8>, count: Int) -> UInt64 {
        table.withUnsafeBufferPointer { table in
            var value = crc
            for i in 0..<count {
                value = table[Int((value ^ UInt64(bytes[i])) & 0xFF)] ^ (value >> 8)
            }
            return value
        }
    }

    /// The CRC64 of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        if let value = bytes.withContiguousStorageIfAvailable({ buffer -> UInt64 in
            guard let base = buffer.baseAddress else { return 0 }
            return update(0, base, count: buffer.count)
        }) {
            return value
        }
        let copy = Array(bytes)
        return copy.withUnsafeBufferPointer { update(0, $0.baseAddress!, count: $0.count) }
    }

    /// Naive twin of `checksum`: the polynomial division bit by bit, no table.
    public static func checksumReference<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var crc: UInt64 = 0
        for byte in bytes {
            crc ^= UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
        }
        return crc
    }

    /// The value as UniProt prints it: 16 uppercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Parses 16 hex digits (either case); nil otherwise.
    public static func parse(_ text: some StringProtocol) -> UInt64? {
        guard text.utf8.count == 16 else { return nil }
        return UInt64(text, radix: 16)
    }
}
