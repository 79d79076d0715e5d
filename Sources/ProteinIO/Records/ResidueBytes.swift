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
    /// Checks 16 bytes per step: a byte is a letter when `(b | 0x20) &- 0x61 ≤ 25` (the OR folds
    /// case), `*` when `b == 0x2A`, a gap when `b &- 0x2D ≤ 1` (`-` or `.`). Each test becomes a
    /// 0x00/0xFF lane mask; the complement of their OR is accumulated and tested once at the end.
    /// (Written with `replacing(with:where:)` and byte-mask arithmetic because that lowers to
    /// plain SSE2 compares and ORs; chains of `SIMDMask` operators were scalarised, 100× slower.)
    /// - Complexity: O(count), branch-free over the SIMD part.
    @inline(__always)
    static func allResidues(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        typealias V = SIMD16<UInt8>
        let zero = V(repeating: 0), ones = V(repeating: 0xFF)
        let caseBit = V(repeating: 0x20), lowerA = V(repeating: 0x61), letterSpan = V(repeating: 25)
        let star = V(repeating: 0x2A), dash = V(repeating: 0x2D), gapSpan = V(repeating: 1)
        var bad = zero
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 16 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i, as: V.self)
            let letter = zero.replacing(with: ones, where: ((v | caseBit) &- lowerA) .<= letterSpan)
            let isStar = zero.replacing(with: ones, where: v .== star)
            let gap = zero.replacing(with: ones, where: (v &- dash) .<= gapSpan)
            bad |= ~(letter | isStar | gap)
            i += 16
        }
        let halves = unsafeBitCast(bad, to: SIMD2<UInt64>.self)  // `bad != zero` would compare lane by lane
        if halves[0] | halves[1] != 0 { return false }
        var tail: UInt8 = 0
        while i < count {
            tail |= classTable[Int(bytes[i])]
            i += 1
        }
        return tail == 0
    }

    /// Copies `count` bytes from `source` to `destination` and returns whether all were residues
    /// (`allResidues` fused with the copy: one pass, no `memmove` call for short lines). When it
    /// returns false the destination holds an unspecified copy.
    ///
    /// Lines of 16 bytes or more are done in 16-byte steps, the last step overlapping the one
    /// before it so nothing is read or written outside the `count` bytes; shorter lines byte by
    /// byte. `destination` must not overlap `source`.
    @inline(__always)
    static func copyResidues(from source: UnsafePointer<UInt8>, to destination: UnsafeMutablePointer<UInt8>,
                             count: Int) -> Bool {
        typealias V = SIMD16<UInt8>
        if count < 16 {
            var tail: UInt8 = 0
            for i in 0..<count {
                let byte = source[i]
                tail |= classTable[Int(byte)]
                destination[i] = byte
            }
            return tail == 0
        }
        let zero = V(repeating: 0), ones = V(repeating: 0xFF)
        let caseBit = V(repeating: 0x20), lowerA = V(repeating: 0x61), letterSpan = V(repeating: 25)
        let star = V(repeating: 0x2A), dash = V(repeating: 0x2D), gapSpan = V(repeating: 1)
        var bad = zero
        let from = UnsafeRawPointer(source)
        let to = UnsafeMutableRawPointer(destination)
        var i = 0
        while true {
            if i + 16 > count { i = count - 16 }  // final, overlapping step
            let v = from.loadUnaligned(fromByteOffset: i, as: V.self)
            to.storeBytes(of: v, toByteOffset: i, as: V.self)
            let letter = zero.replacing(with: ones, where: ((v | caseBit) &- lowerA) .<= letterSpan)
            let isStar = zero.replacing(with: ones, where: v .== star)
            let gap = zero.replacing(with: ones, where: (v &- dash) .<= gapSpan)
            bad |= ~(letter | isStar | gap)
            if i + 16 == count { break }
            i += 16
        }
        let halves = unsafeBitCast(bad, to: SIMD2<UInt64>.self)
        return halves[0] | halves[1] == 0
    }

    /// Naive twin of `allResidues`: classify every byte.
    static func allResiduesReference(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { classifyReference($0) == .residue }
    }

    /// Index of the first control byte (< 0x20 other than tab, or 0x7F) in `bytes[0..<count]`, or
    /// nil. Used to reject binary junk in header and annotation lines.
    ///
    /// Checks 32 bytes per step (`b < 0x20 && b != 0x09`, `b == 0x7F`) with `any` as the early
    /// exit, then locates the byte. (Measured: this form vectorises; comparing whole vectors with
    /// `!=` inside the loop does not.)
    @inline(__always)
    static func firstControlByte(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int? {
        typealias V = SIMD32<UInt8>
        let space = V(repeating: 0x20), tab = V(repeating: 0x09), delete = V(repeating: 0x7F)
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 32 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i, as: V.self)
            if any(((v .< space) .& (v .!= tab)) .| (v .== delete)) { break }
            i += 32
        }
        while i < count {
            let b = bytes[i]
            if (b < 0x20 && b != 0x09) || b == 0x7F { return i }
            i += 1
        }
        return nil
    }

    /// True when all `count` bytes are printable ASCII (0x20–0x7E) or tab: text that needs
    /// neither `firstControlByte` nor UTF-8 validation — the one check a typical header gets.
    ///
    /// 16 bytes per step: a byte passes when `b &- 0x20 ≤ 0x5E` or `b == 0x09`; the failures are
    /// OR-ed into a lane mask tested once at the end (the `allResidues` pattern). The last step
    /// overlaps the one before it, so only text shorter than 16 bytes is checked byte by byte.
    @inline(__always)
    static func isPlainText(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        typealias V = SIMD16<UInt8>
        let zero = V(repeating: 0), ones = V(repeating: 0xFF)
        let space = V(repeating: 0x20), span = V(repeating: 0x5E), tab = V(repeating: 0x09)
        var bad = zero
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        if count >= 16 {
            while true {
                if i + 16 > count { i = count - 16 }  // final, overlapping step
                let v = raw.loadUnaligned(fromByteOffset: i, as: V.self)
                let printable = zero.replacing(with: ones, where: (v &- space) .<= span)
                let isTab = zero.replacing(with: ones, where: v .== tab)
                bad |= ~(printable | isTab)
                if i + 16 == count { break }
                i += 16
            }
            let halves = unsafeBitCast(bad, to: SIMD2<UInt64>.self)
            return halves[0] | halves[1] == 0
        }
        while i < count {
            let b = bytes[i]
            if (b &- 0x20 > 0x5E) && b != 0x09 { return false }
            i += 1
        }
        return true
    }

    /// Naive twin of `isPlainText`.
    static func isPlainTextReference(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { (0x20...0x7E).contains($0) || $0 == 0x09 }
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
