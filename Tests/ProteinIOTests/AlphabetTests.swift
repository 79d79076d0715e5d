import Foundation
import Testing
@testable import ProteinIO

@Suite struct AlphabetTests {
    /// The layout as written in docs/tokens.md, typed out by hand: a change to the code's
    /// layout must fail here (and must come with a new layout name).
    static let documentedTokens = [
        "<pad>", "<mask>", "<cls>", "<eos>", "<sep>", "<unk>",
        "A", "C", "D", "E", "F", "G", "H", "I", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "V", "W", "Y",
        "B", "Z", "X", "U", "O",
    ]

    @Test func layoutIsTheDocumentedOne() {
        #expect(Alphabet.protein.name == "protein-v1")
        #expect(Alphabet.protein.tokens == Self.documentedTokens)
        #expect(Alphabet.count == 31 && Alphabet.protein.count == 31)
        #expect([Alphabet.pad, Alphabet.mask, Alphabet.cls, Alphabet.eos, Alphabet.sep, Alphabet.unk] == [0, 1, 2, 3, 4, 5])
        #expect(Alphabet.firstResidue == 6)
    }

    @Test func serializedFormIsStable() {
        let expected = "<pad> <mask> <cls> <eos> <sep> <unk> A C D E F G H I K L M N P Q R S T V W Y B Z X U O"
        #expect(Alphabet.protein.serializedTokens == expected)
        let back = Alphabet(name: "protein-v1", serializedTokens: expected)
        #expect(back == Alphabet.protein)
        #expect(Alphabet(name: "x", serializedTokens: "").tokens.isEmpty)
    }

    @Test func jsonRoundTripUsesNameAndTokensKeys() throws {
        let data = try JSONEncoder().encode(Alphabet.protein)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["name"] as? String == "protein-v1")
        #expect(object["tokens"] as? [String] == Self.documentedTokens)
        #expect(try JSONDecoder().decode(Alphabet.self, from: data) == Alphabet.protein)
    }

    @Test func classPredicatesPartitionTheVocabulary() {
        let standard = Set("ACDEFGHIKLMNPQRSTVWY")
        for id in 0...255 {
            let t = TokenID(id)
            let token = id < 31 ? Self.documentedTokens[id] : nil
            #expect(Alphabet.isSpecial(t) == (id < 6))
            #expect(Alphabet.isResidue(t) == (id >= 6 && id < 31))
            #expect(Alphabet.isStandardResidue(t) == (token.map { $0.count == 1 && standard.contains($0.first!) } ?? false))
        }
    }

    @Test func characterAndIdAreInverse() {
        for (i, token) in Self.documentedTokens.enumerated() {
            let id = TokenID(i)
            #expect(Alphabet.token(for: id) == token)
            if token.count == 1 {
                let upper = UInt8(ascii: token.unicodeScalars.first!)
                #expect(Alphabet.character(for: id) == upper)
                #expect(Alphabet.id(for: upper) == id)
                #expect(Alphabet.id(for: upper + 32) == id)  // lowercase
            } else {
                #expect(Alphabet.character(for: id) == nil)
            }
        }
        for c in "JjZ*-.0 \n".utf8 where c != UInt8(ascii: "Z") { #expect(Alphabet.id(for: c) == nil) }
        #expect(Alphabet.character(for: 31) == nil && Alphabet.token(for: 200) == "<?200>")
    }

    @Test func validateAcceptsTheSameLayout() throws {
        try Alphabet.protein.validate(against: Alphabet(name: "protein-v1", tokens: Self.documentedTokens), file: "m.safetensors")
    }

    @Test func validateNamesTheFirstDifferentToken() {
        var tokens = Self.documentedTokens
        tokens.swapAt(6, 7)  // A and C exchanged
        tokens.swapAt(20, 21)
        let error = #expect(throws: ProteinIOError.self) {
            try Alphabet.protein.validate(against: Alphabet(name: "protein-v1", tokens: tokens), file: "m.safetensors")
        }
        #expect(error?.kind == .integrity)
        #expect(error?.description == "m.safetensors: alphabet mismatch at id 6: file has 'C', this build has 'A'")
    }

    @Test func validateNamesSizeDifferences() {
        let longer = Alphabet(name: "protein-v1", tokens: Self.documentedTokens + ["-"])
        let shorter = Alphabet(name: "protein-v1", tokens: Array(Self.documentedTokens.dropLast(2)))
        let e1 = #expect(throws: ProteinIOError.self) { try Alphabet.protein.validate(against: longer, file: "a") }
        let e2 = #expect(throws: ProteinIOError.self) { try Alphabet.protein.validate(against: shorter, file: "b") }
        #expect(e1?.message == "alphabet mismatch in size: file has 32 tokens, this build has 31 (file has extra token '-' at id 31)")
        #expect(e2?.message == "alphabet mismatch in size: file has 29 tokens, this build has 31 (file lacks 'U' at id 29)")
    }

    @Test func validateNamesARenamedLayout() {
        let renamed = Alphabet(name: "protein-v2", tokens: Self.documentedTokens)
        let error = #expect(throws: ProteinIOError.self) { try Alphabet.protein.validate(against: renamed, file: "c") }
        #expect(error?.message == "alphabet mismatch in name: file has layout 'protein-v2', this build has 'protein-v1'")
    }
}
