/// The fused half of the readers' parse-and-tokenise path: one record's sequence lines go
/// straight from the input window to token ids, with the reader's byte check and the
/// tokenizer's rules applied in the same pass.
///
/// One 256-entry table (`Tokenizer.streamTable`, or `SequenceLineTokenizer.rawTable` for raw
/// residues) gives each byte either its output (< 0x80) or a class code (top bit set):
///
/// | code      | bytes (default tokenizer)                 | effect                                              |
/// |-----------|-------------------------------------------|-----------------------------------------------------|
/// | id        | letters of the alphabet, either case      | written                                             |
/// | `unknown` | other letters, gaps under `.unknown`      | `<unk>` and counted, or (`.reject`) the record's error |
/// | `stop`    | `*`                                        | held back: dropped at the record's end, `unknown` if a residue follows |
/// | `removed` | `-` `.` under `GapPolicy.remove`          | counted, not written                                |
/// | `blank`   | space, tab                                 | skipped (not a residue, as in `ResidueBytes`)       |
/// | `invalid` | digits, punctuation, controls, ≥ 0x80     | the reader's error (`line` returns its index)       |
///
/// The result is exactly `Tokenizer.tokenize` applied to `SequenceRecord.residues`: the same
/// ids, the same `Counts`, and in reject mode the same first unknown character and residue
/// position. A reject-mode unknown is only remembered (`firstUnknownPosition`), because the
/// two-pass path reports a reader error anywhere in the record before any tokenizer error.
///
/// - Complexity: eight bytes per step — one 8-byte load, four loads from the table squared
///   (`pairTable(from:)`: two bytes → two outputs), one 8-byte store; a line with any class code
///   (or after a held-back `*`) is redone byte by byte through the plain table.
struct SequenceLineTokenizer {
    static let unknown: UInt8 = 0x80
    static let stop: UInt8 = 0x81
    static let removed: UInt8 = 0x82
    static let blank: UInt8 = 0x83
    static let invalid: UInt8 = 0x84

    /// The table that copies residue bytes unchanged (`*` and gaps included, never held back),
    /// skips blanks and flags invalid bytes: the reader's own rule, for `nextResidues(into:)`.
    static let rawTable: [UInt8] = (0..<256).map { byte in
        switch ResidueBytes.classifyReference(UInt8(byte)) {
        case .residue: return UInt8(byte)
        case .skipped: return blank
        case .invalid: return invalid
        }
    }

    /// The byte table squared: entry `b₀ | b₁ << 8` holds `table[b₀] | table[b₁] << 8`, so one
    /// 16-bit load maps two adjacent bytes (128 KiB, but a protein corpus only touches the rows
    /// and columns of letters: a few KiB).
    static func pairTable(from table: [UInt8]) -> [UInt16] {
        var pairs = [UInt16](repeating: 0, count: 1 << 16)
        for high in 0..<256 {
            for low in 0..<256 {
                pairs[high << 8 | low] = UInt16(table[low]) | UInt16(table[high]) << 8
            }
        }
        return pairs
    }

    /// Pair tables of the two tokenizer tables (they depend only on the gap policy) and of
    /// `rawTable`, built on first use.
    static let unknownGapPairs = pairTable(from: streamTable(tokenizerTable: Tokenizer(gaps: .unknown).table))
    static let removedGapPairs = pairTable(from: streamTable(tokenizerTable: Tokenizer(gaps: .remove).table))
    static let rawPairs = pairTable(from: rawTable)

    /// Eight bytes through the pair table: one 8-byte load, four 16-bit table loads, one
    /// 8-byte store (byte j of the word stays byte j). Returns the OR of the outputs.
    @inline(__always)
    static func lookUpEight(_ pairs: UnsafePointer<UInt16>, _ source: UnsafePointer<UInt8>,
                            _ destination: UnsafeMutablePointer<UInt8>) -> UInt64 {
        let w = UnsafeRawPointer(source).loadUnaligned(as: UInt64.self).littleEndian
        var r = UInt64(pairs[Int(truncatingIfNeeded: w & 0xFFFF)])
        r |= UInt64(pairs[Int(truncatingIfNeeded: (w >> 16) & 0xFFFF)]) << 16
        r |= UInt64(pairs[Int(truncatingIfNeeded: (w >> 32) & 0xFFFF)]) << 32
        r |= UInt64(pairs[Int(truncatingIfNeeded: w >> 48)]) << 48
        UnsafeMutableRawPointer(destination).storeBytes(of: r.littleEndian, as: UInt64.self)
        return r
    }

    /// The fused table for a tokenizer with the given `table` (byte → id, `Tokenizer.skipCode`
    /// or `Tokenizer.invalidCode`).
    static func streamTable(tokenizerTable table: [UInt8]) -> [UInt8] {
        (0..<256).map { byte in
            switch ResidueBytes.classifyReference(UInt8(byte)) {
            case .skipped: return blank
            case .invalid: return invalid
            case .residue:
                if byte == Int(UInt8(ascii: "*")) { return stop }
                let id = table[byte]
                return id < 0x80 ? id : id == Tokenizer.skipCode ? removed : unknown
            }
        }
    }

    /// Pair table (`pairTable(from:)`) for the fast path: two bytes → two outputs in one load.
    let pairs: UnsafePointer<UInt16>
    let table: UnsafePointer<UInt8>
    /// `UnknownPolicy.reject`: unknown characters are remembered, not written.
    let reject: Bool
    /// Ids written so far (from the record's first output position).
    private(set) var written = 0
    /// Residue bytes seen so far: the 1-based position of the last one.
    private(set) var residues = 0
    /// `*` seen since the last other residue (dropped if the record ends here).
    private(set) var pendingStops = 0
    private var firstPendingStop = 0
    private var unknown = 0
    private var gapsRemoved = 0
    /// Reject mode: the first unknown character and its 1-based residue position (0: none).
    private(set) var firstUnknownByte: UInt8 = 0
    private(set) var firstUnknownPosition = 0

    init(pairs: UnsafePointer<UInt16>, table: UnsafePointer<UInt8>, reject: Bool) {
        self.pairs = pairs
        self.table = table
        self.reject = reject
    }

    /// What the tokenizer produced for the record so far, as if it ended here.
    var counts: Tokenizer.Counts {
        Tokenizer.Counts(tokens: written, unknown: unknown, gapsRemoved: gapsRemoved, stopsRemoved: pendingStops)
    }

    /// Most ids the next `line` call of `count` bytes may write (room the caller provides after
    /// `written`).
    @inline(__always)
    func room(forLineOf count: Int) -> Int { count + pendingStops }

    /// Tokenises one sequence line (no line terminator) into `output + written`. `output` is
    /// the record's first id and must have `room(forLineOf: count)` ids after `written`.
    /// Returns nil, or the index of the first invalid byte (the reader's error; the state is
    /// then unspecified).
    @inline(__always)
    mutating func line(_ source: UnsafePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<TokenID>) -> Int? {
        if pendingStops == 0 {
            let destination = output + written
            var flags: UInt64 = 0
            var i = 0
            while i + 8 <= count {
                flags |= SequenceLineTokenizer.lookUpEight(pairs, source + i, destination + i)
                i += 8
            }
            while i < count {
                let v = table[Int(source[i])]
                destination[i] = v
                flags |= UInt64(v)
                i += 1
            }
            if flags & 0x8080_8080_8080_8080 == 0 {
                written += count
                residues += count
                return nil
            }
        }
        return lineByteByByte(source, count: count, into: output)
    }

    /// The slow path for a line with any class code (or after a held-back `*`).
    @inline(never)
    private mutating func lineByteByByte(
        _ source: UnsafePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<TokenID>
    ) -> Int? {
        for i in 0..<count {
            let byte = source[i]
            let v = table[Int(byte)]
            if v < 0x80 {
                if pendingStops > 0 { releaseStops(output) }
                output[written] = v
                written += 1
                residues += 1
                continue
            }
            switch v {
            case SequenceLineTokenizer.blank:
                continue
            case SequenceLineTokenizer.stop:
                residues += 1
                if pendingStops == 0 { firstPendingStop = residues }
                pendingStops += 1
            case SequenceLineTokenizer.removed:
                if pendingStops > 0 { releaseStops(output) }
                residues += 1
                gapsRemoved += 1
            case SequenceLineTokenizer.unknown:
                if pendingStops > 0 { releaseStops(output) }
                residues += 1
                unknownCharacter(byte, at: residues, output)
            default:
                return i
            }
        }
        return nil
    }

    /// A residue follows held-back `*`: they were internal stops, i.e. unknown characters.
    private mutating func releaseStops(_ output: UnsafeMutablePointer<TokenID>) {
        for k in 0..<pendingStops {
            unknownCharacter(UInt8(ascii: "*"), at: firstPendingStop + k, output)
        }
        pendingStops = 0
    }

    @inline(__always)
    private mutating func unknownCharacter(_ byte: UInt8, at position: Int, _ output: UnsafeMutablePointer<TokenID>) {
        if reject {
            if firstUnknownPosition == 0 {
                firstUnknownByte = byte
                firstUnknownPosition = position
            }
        } else {
            output[written] = Alphabet.unk
            written += 1
            unknown += 1
        }
    }
}
