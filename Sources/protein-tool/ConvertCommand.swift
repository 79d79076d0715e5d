import ArgumentParser
import ProteinIO

/// `protein-tool convert FILE... --to fasta|tsv|jsonl [--out PATH]`: one record per line (TSV,
/// JSONL) or FASTA, from FASTA or UniProtKB flat files (like `seqkit fx2tab`, Biopython `SeqIO.convert`).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert FASTA / UniProtKB flat files (plain or gzipped) to FASTA, TSV or JSONL.",
        discussion: """
            fasta: '>' + the header, then the sequence wrapped at --line-width (0 = one line). Flat-file
              entries get a UniProt-style header: db|accession|entry_name name OS=… OX=… GN=… PE=… SV=….
            tsv: a header row 'id<TAB>length<TAB>header<TAB>sequence', then one row per record.
            jsonl: one JSON object per record: id (first word of the header; the entry name for flat
              files), header, sequence (as in the file, line breaks removed), length, and when known the
              UniProt fields db, accessions, entry_name, reviewed, protein_name, organism, taxonomy_id,
              gene, keywords, pe, sv, crc64 (16 hex digits), molecular_weight.
            With --out the file is written under a temporary name and renamed into place at the end, so
            a failed run leaves no partial file and never clobbers an earlier one. Flat-file entries
            whose sequence disagrees with their SQ line are an error unless --lenient is given.
            """
    )

    enum Target: String, ExpressibleByArgument, CaseIterable { case fasta, tsv, jsonl }

    @Argument(help: "FASTA or UniProtKB .dat files, plain or gzipped; '-' for standard input.")
    var files: [String]

    @Option(name: .long, help: "Output format: fasta, tsv or jsonl.")
    var to: Target

    @Option(name: .long, help: "Output file (default: standard output).")
    var out: String?

    @Option(name: .long, help: "FASTA line width; 0 writes each sequence on one line.")
    var lineWidth: Int = 60

    @Flag(name: .long, help: "Convert flat-file entries whose SQ length/CRC64 do not match instead of stopping.")
    var lenient = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one FILE (or '-' for standard input)") }
        if lineWidth < 0 { throw ValidationError("--line-width must be ≥ 0") }
        if let out, files.contains(out) { throw ValidationError("--out \(out) is also an input") }
    }

    func run() throws {
        let sink = try OutputSink(path: out)
        if to == .tsv { try sink.write("id\tlength\theader\tsequence\n") }
        for file in files {
            let reader = try SequenceReader(path: file, integrity: lenient ? .lenient : .strict)
            while let record = try reader.next() {
                switch to {
                case .fasta: try writeFASTA(record, to: sink)
                case .tsv:
                    try sink.write("\(displayID(record))\t\(record.length)\t\(tsvField(record.header))\t")
                    try record.residues.withUnsafeBufferPointer { try sink.write(bytes: $0) }
                    try sink.write("\n")
                case .jsonl: try sink.write(jsonLine(record) + "\n")
                }
            }
        }
        try sink.finish()
    }

    /// The JSONL/TSV id: the header's first word for FASTA, the entry name for flat files.
    private func displayID(_ record: SequenceRecord) -> String {
        record.format == .uniProt ? (record.entry?.entryName ?? record.id) : record.id
    }

    private func tsvField(_ text: String) -> String {
        text.contains("\t") ? String(text.map { $0 == "\t" ? " " : $0 }) : text
    }

    private func writeFASTA(_ record: SequenceRecord, to sink: OutputSink) throws {
        try sink.write(">" + record.header + "\n")
        try record.residues.withUnsafeBufferPointer { residues in
            let width = lineWidth == 0 ? max(residues.count, 1) : lineWidth
            var start = 0
            while start < residues.count {
                let end = min(start + width, residues.count)
                try sink.write(bytes: UnsafeBufferPointer(rebasing: residues[start..<end]))
                try sink.write("\n")
                start = end
            }
        }
    }

    private func jsonLine(_ record: SequenceRecord) -> String {
        var fields: [(String, String)] = [
            ("id", JSONText.string(displayID(record))),
            ("header", JSONText.string(record.header)),
            ("sequence", JSONText.string(record.sequence)),
            ("length", JSONText.number(record.length)),
        ]
        if let u = record.uniProt {
            fields.append(("db", JSONText.string(u.database)))
            fields.append(("accessions", JSONText.array(u.accessions.map(JSONText.string))))
            fields.append(("entry_name", JSONText.string(u.entryName)))
            fields.append(("reviewed", u.reviewed ? "true" : "false"))
            if let v = u.proteinName { fields.append(("protein_name", JSONText.string(v))) }
            if let v = u.organism { fields.append(("organism", JSONText.string(v))) }
            if let v = u.taxonomyID { fields.append(("taxonomy_id", JSONText.number(v))) }
            if let v = u.gene { fields.append(("gene", JSONText.string(v))) }
            if record.format == .uniProt { fields.append(("keywords", JSONText.array(u.keywords.map(JSONText.string)))) }
            if let v = u.proteinExistence { fields.append(("pe", JSONText.number(v))) }
            if let v = u.sequenceVersion { fields.append(("sv", JSONText.number(v))) }
            if let v = u.crc64 { fields.append(("crc64", JSONText.string(CRC64.hex(v)))) }
            if let v = u.molecularWeight { fields.append(("molecular_weight", JSONText.number(v))) }
        }
        return JSONText.object(fields)
    }
}
