#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// A protein with some residues hidden: residue ids and `<mask>` (id 1).
public struct MaskedSequence: Sendable, Equatable {
    /// Residue ids (6–30) and `Alphabet.mask`.
    public var tokens: [TokenID]

    public init(tokens: [TokenID]) {
        precondition(tokens.allSatisfy { Alphabet.isResidue($0) || $0 == Alphabet.mask },
                     "a masked sequence holds residues and <mask> only")
        self.tokens = tokens
    }

    /// 0-based indices of the masked residues, in order.
    public var maskedPositions: [Int] { tokens.indices.filter { tokens[$0] == Alphabet.mask } }

    /// Parses text such as `MKT#AY_<mask>LK`:
    /// - residue letters of the alphabet, either case (20 standard + B Z X U O);
    /// - a masked residue: `<mask>` (any case), `#` or `_`;
    /// - spaces, tabs and line breaks are ignored; trailing `*` characters are dropped.
    /// - Throws: `InferenceError` `.invalidMaskedSequence` naming the first other character (or
    ///   unknown `<…>` token), its 1-based residue position and `id`.
    public init<Bytes: Collection>(parsing text: Bytes, id: String = "sequence") throws(InferenceError)
    where Bytes.Element == UInt8 {
        var bytes = Array(text)
        while let last = bytes.last, last == UInt8(ascii: "*") || Self.isBlank(last) { bytes.removeLast() }
        var tokens: [TokenID] = []
        tokens.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if Self.isBlank(byte) {
                i += 1
            } else if byte == UInt8(ascii: "#") || byte == UInt8(ascii: "_") {
                tokens.append(Alphabet.mask)
                i += 1
            } else if byte == UInt8(ascii: "<") {
                let close = bytes[i...].firstIndex(of: UInt8(ascii: ">"))
                let word = String(decoding: bytes[i ..< (close.map { $0 + 1 } ?? bytes.count)], as: UTF8.self)
                guard close != nil, word.lowercased() == "<mask>" else {
                    throw InferenceError(.invalidMaskedSequence,
                                         "\(id): unknown token '\(word.prefix(20))' at residue \(tokens.count + 1); "
                                            + "the only token allowed is <mask>")
                }
                tokens.append(Alphabet.mask)
                i += word.utf8.count
            } else if let residue = Alphabet.id(for: byte) {
                tokens.append(residue)
                i += 1
            } else {
                let shown = (0x21...0x7E).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x\(String(byte, radix: 16, uppercase: true))"
                throw InferenceError(.invalidMaskedSequence,
                                     "\(id): unexpected character \(shown) at residue \(tokens.count + 1); expected an "
                                        + "amino-acid letter (ACDEFGHIKLMNPQRSTVWY or BZXUO) or a mask (<mask>, # or _)")
            }
        }
        self.tokens = tokens
    }

    /// Reads masked sequences from FASTA text (the regular FASTA reader rejects `#`, `_` and `<`):
    /// `>` lines start a record whose id is the header's first word; the following lines, joined,
    /// are parsed with `init(parsing:id:)`. Blank lines are skipped; CRLF is accepted.
    /// - Throws: `InferenceError` `.invalidMaskedSequence`: text before the first `>` (naming
    ///   `file` and the line), or a record that does not parse (naming `file` and the record).
    public static func records(fasta bytes: [UInt8], file: String) throws(InferenceError) -> [(id: String, sequence: MaskedSequence)] {
        var records: [(id: String, sequence: MaskedSequence)] = []
        var id: String?
        var residues: [UInt8] = []
        func finish() throws(InferenceError) {
            guard let id else { return }
            records.append((id, try MaskedSequence(parsing: residues, id: "\(file) \(id)")))
            residues.removeAll(keepingCapacity: true)
        }
        var lineNumber = 0
        for var line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.first == UInt8(ascii: ">") {
                try finish()
                let header = line.dropFirst()
                let end = header.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? header.endIndex
                id = String(decoding: header[..<end], as: UTF8.self)
            } else if id != nil {
                residues += line
            } else if !line.allSatisfy(isBlank) {
                throw InferenceError(.invalidMaskedSequence,
                                     "\(file):\(lineNumber): expected a FASTA header ('>') before the sequence")
            }
        }
        try finish()
        return records
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    /// The sequence with `<mask>` shown as `#`.
    public var text: String {
        String(decoding: tokens.map { Alphabet.character(for: $0) ?? UInt8(ascii: "#") }, as: UTF8.self)
    }
}

/// The residues `fill` reports and normalises over.
public enum FillAlphabet: String, Sendable, CaseIterable, Codable {
    /// The 20 standard amino acids (ids 6–25).
    case standard
    /// The 20 standard amino acids and B Z X U O (ids 6–30).
    case all

    /// The token ids of the alphabet.
    public var ids: Range<Int> {
        let first = Int(Alphabet.firstResidue)
        return first ..< first + (self == .standard ? Alphabet.standardResidueCount : Alphabet.residueCount)
    }
}

/// One candidate residue for a masked position.
public struct FillCandidate: Sendable, Equatable {
    public var residue: TokenID
    /// softmax over the fill alphabet only: exp(z_a) / Σ_{b ∈ alphabet} exp(z_b).
    public var probability: Double

    /// The residue's one-letter code.
    public var letter: String { Alphabet.token(for: residue) }
}

/// The prediction for one masked position.
public struct FillSite: Sendable, Equatable {
    /// 1-based residue position.
    public var position: Int
    /// The top-k residues, most probable first (ties: lower id first).
    public var candidates: [FillCandidate]
}

/// What `MaskFiller.fill` returns.
public struct FillResult: Sendable, Equatable {
    /// One site per masked position, in sequence order.
    public var sites: [FillSite]
    /// The sequence with every mask replaced by its most probable residue.
    public var filled: [TokenID]

    /// `filled` as one-letter codes.
    public var filledSequence: String { Tokenizer.decode(filled, includeSpecial: false) }
}

/// Predicts masked residues with a `PerformerLM`.
///
/// Masked LM: one pass over `<cls> s <sep>` with every mask in place; each masked position gets
/// the softmax of its logits restricted to the fill alphabet, independently (no iterative
/// refinement), and the filled sequence takes each position's argmax.
///
/// Causal LM: greedy, left to right. For each mask in order, one pass over the sequence with the
/// earlier masks already replaced by their argmax; the prediction for residue i is read at
/// token i − 1 and so conditions on the prefix only (residues after a mask do not inform it).
///
/// Not thread-safe (one model pass at a time).
public final class MaskFiller {
    public let model: PerformerLM
    let cache: WorkspaceCache

    public init(model: PerformerLM) {
        self.model = model
        cache = WorkspaceCache(model: model, maxEntries: 2)
    }

    /// Fills every masked position of `sequence`.
    ///
    /// - Parameters:
    ///   - topK: candidates reported per position; ≤ 0 or more than the alphabet means all of it.
    ///   - alphabet: the residues reported and normalised over (special tokens never are).
    ///   - id: the sequence's name, for errors.
    /// - Throws: `InferenceError` `.noMaskedPositions` when nothing is masked.
    /// - Complexity: one pass of n + 2 tokens (masked LM); one per mask (causal).
    public func fill(_ sequence: MaskedSequence, topK: Int, alphabet: FillAlphabet = .standard,
                     id: String = "sequence") throws(InferenceError) -> FillResult {
        let masked = sequence.maskedPositions
        guard !masked.isEmpty else {
            throw InferenceError(.noMaskedPositions, "\(id): no masked position (write <mask>, # or _ where a residue is unknown)")
        }
        let n = sequence.tokens.count, length = n + 2, vocab = model.configuration.vocabSize
        let workspace = cache.workspace(batch: 1, length: length)
        var current = sequence.tokens
        var sites: [FillSite] = []
        if model.configuration.causal {
            for p in masked {
                model.forward(tokens: SequenceScorer.windowTokens(current), workspace: workspace)
                let site = Self.site(UnsafePointer(workspace.logits.data + p * vocab), position: p, topK: topK, alphabet: alphabet)
                current[p] = site.candidates[0].residue
                sites.append(site)
            }
        } else {
            model.forward(tokens: SequenceScorer.windowTokens(current), workspace: workspace)
            for p in masked {
                let site = Self.site(UnsafePointer(workspace.logits.data + (p + 1) * vocab), position: p, topK: topK, alphabet: alphabet)
                current[p] = site.candidates[0].residue
                sites.append(site)
            }
        }
        return FillResult(sites: sites, filled: current)
    }

    /// The restricted softmax of one row of logits, sorted, cut to `topK`.
    static func site(_ z: UnsafePointer<Float>, position: Int, topK: Int, alphabet: FillAlphabet) -> FillSite {
        let ids = alphabet.ids
        let normalizer = LogSoftmax.logSumExp(z, ids: ids)
        var candidates = ids.map { FillCandidate(residue: TokenID($0), probability: exp(Double(z[$0]) - normalizer)) }
        candidates.sort { $0.probability != $1.probability ? $0.probability > $1.probability : $0.residue < $1.residue }
        let k = topK <= 0 ? candidates.count : Swift.min(topK, candidates.count)
        return FillSite(position: position + 1, candidates: Array(candidates.prefix(k)))
    }
}
