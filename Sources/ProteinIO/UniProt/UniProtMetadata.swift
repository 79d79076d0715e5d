/// UniProtKB fields of one entry, from a flat-file entry or a UniProtKB FASTA header.
///
/// Field sources (UniProtKB user manual; FASTA header format
/// `>db|UniqueIdentifier|EntryName ProteinName OS=… OX=… [GN=…] PE=… SV=…`):
///
/// | field               | flat file                         | FASTA header        |
/// |---------------------|-----------------------------------|---------------------|
/// | `database`          | `sp` if Reviewed, else `tr`       | `sp` / `tr`         |
/// | `accessions`        | all AC accessions, in order       | the one accession   |
/// | `entryName`         | ID line, first token              | third `|` field     |
/// | `reviewed`          | ID line `Reviewed`/`Unreviewed`   | `sp` → true, `tr` → false |
/// | `proteinName`       | DE `RecName: Full=` (else `SubName: Full=`) | text before ` OS=` |
/// | `organism`          | OS lines joined, final `.` removed | `OS=`              |
/// | `taxonomyID`        | OX `NCBI_TaxID=`                  | `OX=`               |
/// | `gene`              | first GN `Name=`                  | `GN=`               |
/// | `keywords`          | KW lines, split at `;`            | (empty)             |
/// | `proteinExistence`  | PE level 1–5                      | `PE=`               |
/// | `sequenceVersion`   | DT `sequence version N`           | `SV=`               |
/// | `declaredLength`, `molecularWeight`, `crc64` | SQ line  | (nil)               |
public struct UniProtMetadata: Sendable, Hashable {
    /// `sp` (Swiss-Prot, reviewed) or `tr` (TrEMBL, unreviewed).
    public var database: String
    /// All accessions; the first is the primary one.
    public var accessions: [String]
    /// Mnemonic entry name, e.g. `HBA_HUMAN`.
    public var entryName: String
    /// Reviewed (Swiss-Prot) or not (TrEMBL).
    public var reviewed: Bool
    /// Recommended (or submitted) full protein name.
    public var proteinName: String?
    /// Source organism as written (flat file: with common names in parentheses).
    public var organism: String?
    /// NCBI taxonomy identifier.
    public var taxonomyID: Int?
    /// Primary gene name.
    public var gene: String?
    /// Keywords (flat file only).
    public var keywords: [String]
    /// Protein existence level, 1 (evidence at protein level) … 5 (uncertain).
    public var proteinExistence: Int?
    /// Sequence version.
    public var sequenceVersion: Int?
    /// Length declared by the SQ line (flat file only).
    public var declaredLength: Int?
    /// Molecular weight in Da from the SQ line (flat file only).
    public var molecularWeight: Int?
    /// CRC64 from the SQ line (flat file only); see `CRC64`.
    public var crc64: UInt64?

    public init(
        database: String, accessions: [String], entryName: String, reviewed: Bool,
        proteinName: String? = nil, organism: String? = nil, taxonomyID: Int? = nil, gene: String? = nil,
        keywords: [String] = [], proteinExistence: Int? = nil, sequenceVersion: Int? = nil,
        declaredLength: Int? = nil, molecularWeight: Int? = nil, crc64: UInt64? = nil
    ) {
        self.database = database
        self.accessions = accessions
        self.entryName = entryName
        self.reviewed = reviewed
        self.proteinName = proteinName
        self.organism = organism
        self.taxonomyID = taxonomyID
        self.gene = gene
        self.keywords = keywords
        self.proteinExistence = proteinExistence
        self.sequenceVersion = sequenceVersion
        self.declaredLength = declaredLength
        self.molecularWeight = molecularWeight
        self.crc64 = crc64
    }

    /// The primary accession (first of `accessions`), e.g. `P69905`.
    public var accession: String { accessions.first ?? "" }

    /// A UniProt-style FASTA header (without `>`):
    /// `sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2`.
    /// Fields that are unknown are left out. The organism is written as stored (UniProt's own
    /// FASTA files show only the scientific name).
    public var fastaHeader: String {
        var text = "\(database)|\(accession)|\(entryName)"
        if let proteinName { text += " " + proteinName }
        if let organism { text += " OS=" + organism }
        if let taxonomyID { text += " OX=\(taxonomyID)" }
        if let gene { text += " GN=" + gene }
        if let proteinExistence { text += " PE=\(proteinExistence)" }
        if let sequenceVersion { text += " SV=\(sequenceVersion)" }
        return text
    }
}
