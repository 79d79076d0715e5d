import Testing
@testable import ProteinIO

@Suite struct TokenizerTests {
    static let policies: [(Tokenizer.UnknownPolicy, Tokenizer.GapPolicy)] = [
        (.replace, .unknown), (.replace, .remove), (.reject, .unknown), (.reject, .remove),
    ]

    /// What one byte should become, from the documented rules alone (no code shared with the
    /// tokenizer): a residue id, "removed", or "unknown".
    enum Expected: Equatable { case id(TokenID), removed, unknown }
    static func expected(_ byte: UInt8, gaps: Tokenizer.GapPolicy) -> Expected {
        let standard = Array("ACDEFGHIKLMNPQRSTVWY".utf8), extra = Array("BZXUO".utf8)
        var upper = byte
        if (97...122).contains(byte) { upper = byte - 32 }
        if let i = standard.firstIndex(of: upper) { return .id(TokenID(6 + i)) }
        if let i = extra.firstIndex(of: upper) { return .id(TokenID(26 + i)) }
        if gaps == .remove && (byte == 45 || byte == 46) { return .removed }
        return .unknown
    }

    @Test(arguments: 0..<4)
    func everyByteValueAloneAndInContext(policy: Int) throws {
        let (unknown, gaps) = Self.policies[policy]
        let tokenizer = Tokenizer(unknown: unknown, gaps: gaps)
        for value in 0...255 {
            let byte = UInt8(value)
            // Alone (a lone `*` is a trailing stop and vanishes) and between two residues.
            for input in [[byte], [UInt8(ascii: "M"), byte, UInt8(ascii: "k")]] {
                let fast = Result { () throws(ProteinIOError) in try tokenizer.tokenize(input, id: "r", file: "f") }
                let reference = Result { () throws(ProteinIOError) in try tokenizer.tokenizeReference(input, id: "r", file: "f").ids }
                #expect(fast == reference, "byte \(value) in \(input)")

                let trailingStop = byte == 42 && input.count == 1
                var want: [TokenID]? = []
                for b in input {
                    if trailingStop { break }
                    switch Self.expected(b, gaps: gaps) {
                    case .id(let id): want?.append(id)
                    case .removed: break
                    case .unknown: want = unknown == .replace ? want.map { $0 + [Alphabet.unk] } : nil
                    }
                }
                if let want {
                    #expect(try fast.get() == want, "byte \(value) in \(input)")
                } else {
                    #expect(throws: ProteinIOError.self) { try fast.get() }
                }
            }
        }
    }

    @Test(arguments: 0..<4)
    func randomMixedInputMatchesReference(policy: Int) throws {
        let (unknown, gaps) = Self.policies[policy]
        let tokenizer = Tokenizer(unknown: unknown, gaps: gaps)
        var g = SeededGenerator(seed: 99)
        let letters = Array("ACDEFGHIKLMNPQRSTVWYacdefghiklmnpqrstvwyBZXUObzxuo".utf8)
        for trial in 0..<2000 {
            let n = g.nextInt(below: 300)
            var input: [UInt8] = []
            for _ in 0..<n {
                // Mostly residues, sometimes a gap, a star or any byte at all.
                switch g.nextInt(below: 100) {
                case 0: input.append(UInt8(g.nextInt(below: 256)))
                case 1: input.append(UInt8(ascii: "-"))
                case 2: input.append(UInt8(ascii: "*"))
                default: input.append(letters[g.nextInt(below: letters.count)])
                }
            }
            let fast = Result { () throws(ProteinIOError) in try tokenizer.tokenize(input, id: "t\(trial)", file: "f") }
            let reference = Result { () throws(ProteinIOError) in
                try tokenizer.tokenizeReference(input, id: "t\(trial)", file: "f").ids
            }
            #expect(fast == reference)
            // The counts agree too.
            var output = [TokenID](repeating: 0, count: input.count)
            let counts = input.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { out in
                    try? tokenizer.tokenize(source, into: out, id: "t", file: "f")
                }
            }
            let refCounts = try? tokenizer.tokenizeReference(input, id: "t", file: "f").counts
            #expect(counts == refCounts)
        }
    }

    @Test func lowercaseMapsToUppercase() throws {
        let t = Tokenizer()
        #expect(try t.tokenize(Array("mkvlaagiEF".utf8), id: "x", file: "f") == t.tokenize(Array("MKVLAAGIEF".utf8), id: "x", file: "f"))
    }

    @Test func trailingStopsAreDroppedInternalStopIsUnknown() throws {
        let t = Tokenizer()
        var out = [TokenID](repeating: 0, count: 8)
        let input = Array("MA*K**".utf8)
        let counts = try input.withUnsafeBufferPointer { (s) throws(ProteinIOError) -> Tokenizer.Counts in
            try out.withUnsafeMutableBufferPointer { (o) throws(ProteinIOError) -> Tokenizer.Counts in
                try t.tokenize(s, into: o, id: "x", file: "f")
            }
        }
        #expect(counts == Tokenizer.Counts(tokens: 4, unknown: 1, gapsRemoved: 0, stopsRemoved: 2))
        #expect(Array(out[0..<4]) == [16, 6, Alphabet.unk, 14])  // M=16, A=6, K=14 (by the table)
        #expect(try t.tokenize(Array("***".utf8), id: "x", file: "f") == [])
        #expect(try t.tokenize([], id: "x", file: "f") == [])
    }

    @Test func gapsAreRemovedOnlyWhenAsked() throws {
        let aligned = Array("-MK.V--".utf8)
        #expect(try Tokenizer(gaps: .remove).tokenize(aligned, id: "x", file: "f") == [16, 14, 23])
        #expect(try Tokenizer(gaps: .unknown).tokenize(aligned, id: "x", file: "f")
                == [Alphabet.unk, 16, 14, Alphabet.unk, 23, Alphabet.unk, Alphabet.unk])
    }

    @Test func strictModeNamesByteRecordAndPosition() {
        let t = Tokenizer(unknown: .reject)
        let e1 = #expect(throws: ProteinIOError.self) { try t.tokenize(Array("MAJK".utf8), id: "P12345", file: "x.fasta") }
        #expect(e1?.kind == .malformed)
        #expect(e1?.description == "x.fasta (P12345): unexpected character 'J' (0x4A) at residue 3; "
            + "expected an amino-acid letter (ACDEFGHIKLMNPQRSTVWY or BZXUO, either case)")
        let e2 = #expect(throws: ProteinIOError.self) { try t.tokenize([77, 0x1F], id: "q", file: "y") }
        #expect(e2?.message.hasPrefix("unexpected character '\\x1F' (0x1F) at residue 2;") == true)
    }

    @Test func appendKeepsExistingContentAndRollsBackOnError() throws {
        var output: [TokenID] = [Alphabet.cls]
        let counts = try Array("AC-D".utf8).withUnsafeBufferPointer { (s) throws(ProteinIOError) -> Tokenizer.Counts in
            try Tokenizer(gaps: .remove).tokenize(s, appendingTo: &output, id: "x", file: "f")
        }
        #expect(counts.tokens == 3 && counts.gapsRemoved == 1)
        #expect(output == [Alphabet.cls, 6, 7, 8])
        #expect(throws: ProteinIOError.self) {
            try Array("AC1".utf8).withUnsafeBufferPointer { (s) throws(ProteinIOError) -> Tokenizer.Counts in
                try Tokenizer(unknown: .reject).tokenize(s, appendingTo: &output, id: "x", file: "f")
            }
        }
        #expect(output == [Alphabet.cls, 6, 7, 8])
    }

    @Test func decodeRoundTripsAndShowsSpecials() throws {
        let t = Tokenizer()
        let text = "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFBZXUO"
        #expect(Tokenizer.decode(try t.tokenize(Array(text.lowercased().utf8) + [42], id: "x", file: "f")) == text)
        let ids: [TokenID] = [Alphabet.cls, 6, 7, Alphabet.sep, Alphabet.pad, 40]
        #expect(Tokenizer.decode(ids) == "<cls>AC<sep><pad><?40>")
        #expect(Tokenizer.decode(ids, includeSpecial: false) == "AC<?40>")
    }
}
