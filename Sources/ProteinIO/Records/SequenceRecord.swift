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
    /// The header line's bytes, as in the file without `>`, line ending and trailing blanks
    /// (valid UTF-8, no control bytes). FASTA records keep only these: `header`, `id` and
    /// `description` are built from them when read, so bulk parsing creates no `String`.
    /// Flat-file records hold the bytes of their generated UniProt FASTA header.
    public var headerBytes: [UInt8]
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

    private var storedID: String?
    private var storedDescription: String?

    /// FASTA: the whole header line without `>`, line ending and trailing blanks. Flat file: a
    /// UniProt FASTA header for the entry (see `UniProtMetadata.fastaHeader`).
    public var header: String {
        get { String(decoding: headerBytes, as: UTF8.self) }
        set { headerBytes = Array(newValue.utf8) }
    }

    /// FASTA: the header's first word (e.g. `sp|P69905|HBA_HUMAN`); flat file: the primary
    /// accession. Built from `headerBytes` when read, unless one was given (flat files,
    /// assignment).
    public var id: String {
        get { storedID ?? String(decoding: headerBytes[..<SequenceRecord.idEnd(headerBytes)], as: UTF8.self) }
        set { storedID = newValue }
    }

    /// FASTA: the header after the id and the blanks that follow it; flat file: the DE lines
    /// joined. Built from `headerBytes` when read, like `id`.
    public var description: String {
        get {
            if let storedDescription { return storedDescription }
            var start = SequenceRecord.idEnd(headerBytes)
            while start < headerBytes.count && (headerBytes[start] == UInt8(ascii: " ") || headerBytes[start] == UInt8(ascii: "\t")) {
                start += 1
            }
            return String(decoding: headerBytes[start...], as: UTF8.self)
        }
        set { storedDescription = newValue }
    }

    /// A record with an explicit id and description (flat-file entries, or records made in code).
    public init(
        id: String, description: String, header: String, residues: [UInt8], format: SequenceFormat,
        line: Int = 1, byteOffset: Int = 0, entry: UniProtMetadata? = nil, integrityIssue: ProteinIOError? = nil
    ) {
        self.init(headerBytes: Array(header.utf8), residues: residues, format: format, line: line,
                  byteOffset: byteOffset, entry: entry, integrityIssue: integrityIssue)
        storedID = id
        storedDescription = description
    }

    /// A FASTA-style record whose id and description are the header's first word and the rest.
    public init(
        header: String, residues: [UInt8], format: SequenceFormat = .fasta, line: Int = 1, byteOffset: Int = 0,
        entry: UniProtMetadata? = nil, integrityIssue: ProteinIOError? = nil
    ) {
        self.init(headerBytes: Array(header.utf8), residues: residues, format: format, line: line,
                  byteOffset: byteOffset, entry: entry, integrityIssue: integrityIssue)
    }

    init(
        headerBytes: [UInt8], residues: [UInt8], format: SequenceFormat, line: Int, byteOffset: Int,
        entry: UniProtMetadata? = nil, integrityIssue: ProteinIOError? = nil
    ) {
        self.headerBytes = headerBytes
        self.residues = residues
        self.format = format
        self.line = line
        self.byteOffset = byteOffset
        self.entry = entry
        self.integrityIssue = integrityIssue
    }

    /// Records are equal when every public field is.
    public static func == (lhs: SequenceRecord, rhs: SequenceRecord) -> Bool {
        lhs.headerBytes == rhs.headerBytes && lhs.residues == rhs.residues && lhs.format == rhs.format
            && lhs.line == rhs.line && lhs.byteOffset == rhs.byteOffset && lhs.entry == rhs.entry
            && lhs.integrityIssue == rhs.integrityIssue && lhs.id == rhs.id && lhs.description == rhs.description
    }

    /// Index of the first blank (space or tab) in a header, or its end.
    static func idEnd<C: Collection<UInt8>>(_ header: C) -> Int where C.Index == Int {
        header.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? header.endIndex
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
        if format == .fasta { return UniProtMetadata(fastaHeader: headerBytes) }
        return nil
    }
}
