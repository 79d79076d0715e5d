/// The record formats ProteinIO reads.
public enum SequenceFormat: String, Sendable, Equatable, CaseIterable {
    /// FASTA (`>` header lines, then sequence lines).
    case fasta
    /// UniProtKB flat file (Swiss-Prot / TrEMBL `.dat`): `ID` … `//` entries.
    case uniProt = "uniprot"

    /// Recognises a format from the first non-blank line of the (decompressed) input: `>` is
    /// FASTA, `ID   ` is a UniProtKB flat file; anything else is nil.
    static func detect(firstLine: UnsafeBufferPointer<UInt8>) -> SequenceFormat? {
        if firstLine.first == UInt8(ascii: ">") { return .fasta }
        if firstLine.starts(with: "ID   ".utf8) { return .uniProt }
        return nil
    }
}

/// What a UniProtKB flat-file reader does when an entry's sequence disagrees with its own SQ
/// line (residue count or CRC64) or with its ID line length.
public enum IntegrityMode: String, Sendable, Equatable, CaseIterable {
    /// Throw an `.integrity` error naming the entry and the SQ line.
    case strict
    /// Return the entry with `integrityIssue` set and count it in `integrityMismatches`.
    case lenient
}
