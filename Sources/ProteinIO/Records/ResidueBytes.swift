/// Byte classes of sequence text, with the fast (SIMD) checks the parsers run on every line and
/// their naive `…Reference` twins.
///
/// A sequence byte is a *residue* (kept as in the file), *skipped* (space, tab: formatting, as in
/// the UniProt flat file's blocks of ten) or *invalid* (everything else, which is an error):
///
/// | class    | bytes                                   |
/// |----------|-----------------------------------------|
/// | residue  | `A`–`Z`, `a`–`z`, `*` (stop), `-` `.` (gaps) |
/// | skipped  | space 0x20, tab 0x09                    |
/// | invalid  | digits, other punctuation, controls (incl. a lone `\r`), bytes ≥ 0x80 |
enum ResidueBytes {
    enum Class: UInt8 {
        case residue = 0
        case skipped = 1
        case invalid = 2
    }

    /// `Class.rawValue` for each byte value.
    static let classTable: [UInt8] = (0..<256).map { classifyReference(UInt8($0)).rawValue }

    /// The class of one byte, spelled out (the definition the table and SIMD check follow).
    static func classifyReference(_ byte: UInt8) -> Class {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return .residue
        case UInt8(ascii: " "), UInt8(ascii: "\t"):
            return .skipped
        default:
            return .invalid
        }
    }

    /// True when all `count` bytes at `bytes` are residues.
    ///
    /// Checks 32 bytes per step: a byte is a letter when `(b | 0x20) &- 0x61 < 26` (the OR folds
    /// case), or one of `*` `-` `.`; the per-lane results are AND-ed and tested once at the end.
    /// - Complexity: O(count), branch-free over the SIMD part.
    @inline(__always)
    static func allResidues(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        typealias V = SIMD32<UInt8>
        var i = 0
        var ok = SIMDMask<V.MaskStorage>(repeating: true)
        let raw = UnsafeRawPointer(bytes)
        while i + 32 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i, as: V.self)
            let folded = (v | V(repeating: 0x20)) &- V(repeating: 0x61)
            let letter = folded .< V(repeating: 26)
            let star = v .== V(repeating: 0x2A)
            let dash = v .== V(repeating: 0x2D)
            let dot = v .== V(repeating: 0x2E)
            ok = ok .& (letter .| star .| dash .| dot)
            i += 32
        }
        if !all(ok) { return false }
        var bad: UInt8 = 0
        while i < count {
            bad |= classTable[Int(bytes[i])]
            i += 1
        }
        return bad == 0
    }

    /// Naive twin of `allResidues`: classify every byte.
    static func allResiduesReference(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { classifyReference($0) == .residue }
    }

    /// Index of the first control byte (< 0x20 other than tab, or 0x7F) in `bytes[0..<count]`, or
    /// nil. Used to reject binary junk in header and annotation lines.
    ///
    /// Checks 32 bytes per step (`b < 0x20 && b != 0x09`, `b == 0x7F`), then locates the byte.
    @inline(__always)
    static func firstControlByte(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int? {
        typealias V = SIMD32<UInt8>
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 32 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i, as: V.self)
            let control = ((v .< V(repeating: 0x20)) .& (v .!= V(repeating: 0x09))) .| (v .== V(repeating: 0x7F))
            if any(control) { break }
            i += 32
        }
        while i < count {
            let b = bytes[i]
            if (b < 0x20 && b != 0x09) || b == 0x7F { return i }
            i += 1
        }
        return nil
    }

    /// Naive twin of `firstControlByte`.
    static func firstControlByteReference(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        bytes.firstIndex { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    /// True when all `count` bytes are ASCII (< 0x80), so the text needs no UTF-8 validation.
    @inline(__always)
    static func isASCII(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        var i = 0
        var acc: UInt64 = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 8 <= count {
            acc |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count {
            acc |= UInt64(bytes[i])
            i += 1
        }
        return acc & 0x8080_8080_8080_8080 == 0
    }
}
