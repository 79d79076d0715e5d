/// One protein sequence read from a FASTA file or a UniProtKB flat file.
///
/// `residues` are the sequence bytes exactly as in the file — case kept, a trailing `*` and gap
/// characters `-` `.` kept — with line breaks and spaces/tabs removed. The tokenizer decides
/// what they mean.
///
/// | field         | FASTA                                          | UniProtKB flat file                      |
/// |---------------|------------------------------------------------|------------------------------------------|
/// | `id`          | first word of the header                       | primary accession (first AC)            |
/// | `description` | header text after the id                       | the DE lines joined with spaces          |
/// | `header`      | the header line without `>` (trailing blanks removed) | a UniProt-style FASTA header built from the entry |
/// | `uniProt`     | parsed on demand from a `sp|…|…`/`tr|…|…` header | parsed from ID/AC/DE/GN/OS/OX/KW/PE/DT/SQ |
public struct SequenceRecord: Sendable, Equatable {
    /// FASTA: the header's first word (e.g. `sp|P69905|HBA_HUMAN`); flat file: the primary accession.
    public var id: String
    /// FASTA: the header after the id and the blanks that follow it; flat file: the DE text.
    public var description: String
    /// FASTA: the whole header line without `>`, line ending and trailing blanks. Flat file: a
    /// UniProt FASTA header for the entry (see `UniProtMetadata.fastaHeader`).
    public var header: String
    /// The sequence as ASCII bytes, as in the file (see the type's summary).
    public var residues: [UInt8]
    /// The format the record was read from.
    public var format: SequenceFormat
    /// 1-based line of the record's first line (`>` or `ID`).
    public var line: Int
    /// Offset of the record's first byte in the decompressed stream.
    public var byteOffset: Int
    /// Flat-file metadata (nil for FASTA records; use `uniProt` for either format).
    public var entry: UniProtMetadata?
    /// In lenient integrity mode, the SQ length / CRC64 problem found in this entry (the error
    /// strict mode would have thrown); nil when the entry is consistent or for FASTA.
    public var integrityIssue: ProteinIOError?

    public init(
        id: String, description: String, header: String, residues: [UInt8], format: SequenceFormat,
        line: Int = 1, byteOffset: Int = 0, entry: UniProtMetadata? = nil, integrityIssue: ProteinIOError? = nil
    ) {
        self.id = id
        self.description = description
        self.header = header
        self.residues = residues
        self.format = format
        self.line = line
        self.byteOffset = byteOffset
        self.entry = entry
        self.integrityIssue = integrityIssue
    }

    /// Number of residue bytes.
    public var length: Int { residues.count }

    /// The residues as a `String` (ASCII), for display.
    public var sequence: String { String(decoding: residues, as: UTF8.self) }

    /// UniProt metadata: the flat-file entry, or — for FASTA — the fields of a UniProtKB header
    /// (`>sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2`),
    /// parsed each time this is read (cheap, and free for callers that never ask). Nil for FASTA
    /// headers that are not UniProtKB style.
    public var uniProt: UniProtMetadata? {
        if let entry { return entry }
        if format == .fasta { return UniProtMetadata(fastaHeader: header) }
        return nil
    }
}
