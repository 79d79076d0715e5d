import ArgumentParser
import ProteinIO

/// `protein-tool stats FILE...`: per-file summary, like `seqkit stats` plus composition,
/// non-standard residues and (for UniProtKB flat files) SQ length / CRC64 mismatches.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summarise FASTA / UniProtKB flat files (plain or gzipped): counts, lengths, composition.",
        discussion: """
            Format (FASTA or UniProtKB flat file) and gzip are detected from the content, not the name;
            '-' reads standard input. Residues are sequence characters as in the file (a trailing '*'
            and gap characters count, as in seqkit's sum_len). Composition is the percentage of each
            standard amino acid among all residues, case-insensitive; 'nonstandard' counts everything
            else (B Z X U O * - . …). For flat files, 'integrity_mismatches' counts entries whose
            sequence disagrees with their SQ line (length or CRC64) or ID line length; such entries are
            counted, not fatal. Malformed input stops with a one-line error naming the file and line.

            TSV columns: file format compression records residues min_length mean_length max_length
            nonstandard integrity_mismatches, then one column per standard amino acid (percent).
            JSON: an array with one object per file (keys file, format, compression, records, residues,
            min_length, max_length, mean_length, nonstandard, nonstandard_counts, integrity_mismatches,
            composition = fraction of residues per standard amino acid).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case tsv, json }

    @Argument(help: "FASTA or UniProtKB .dat files, plain or gzipped; '-' for standard input.")
    var files: [String]

    @Option(name: .long, help: "Output format: tsv or json.")
    var format: Format = .tsv

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one FILE (or '-' for standard input)") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("'-' (standard input) can be given once") }
    }

    func run() throws {
        var rows: [(file: String, format: SequenceFormat?, compression: ByteSource.Compression,
                    stats: SequenceStatistics, mismatches: Int)] = []
        for file in files {
            let reader = try SequenceReader(path: file, integrity: .lenient)
            var stats = SequenceStatistics()
            var residues: [UInt8] = []  // reused: the fused reader allocates nothing per record
            while try reader.nextResidues(into: &residues) != nil { stats.add(residues) }
            rows.append((file, reader.format, reader.compression, stats, reader.integrityMismatches))
            if format == .tsv {
                if rows.count == 1 { print(tsvHeader()) }
                print(tsvRow(rows[rows.count - 1]))  // stream one line per file as it finishes
            }
        }
        if format == .json {
            print(JSONText.array(rows.map(jsonObject)))
        }
    }

    private func tsvHeader() -> String {
        (["file", "format", "compression", "records", "residues", "min_length", "mean_length", "max_length",
          "nonstandard", "integrity_mismatches"]
            + SequenceStatistics.standardResidues.map { String(UnicodeScalar($0)) }).joined(separator: "\t")
    }

    private func tsvRow(_ row: (file: String, format: SequenceFormat?, compression: ByteSource.Compression,
                                stats: SequenceStatistics, mismatches: Int)) -> String {
        let s = row.stats
        let percents = s.standardCounts.map { s.residues == 0 ? "0.00" : String(format2: 100 * Double($0) / Double(s.residues)) }
        return ([row.file, row.format?.rawValue ?? "empty", row.compression.rawValue, "\(s.records)", "\(s.residues)",
                 "\(s.minLength)", String(format2: s.meanLength), "\(s.maxLength)", "\(s.nonStandardResidues)",
                 "\(row.mismatches)"] + percents).joined(separator: "\t")
    }

    private func jsonObject(_ row: (file: String, format: SequenceFormat?, compression: ByteSource.Compression,
                                    stats: SequenceStatistics, mismatches: Int)) -> String {
        let s = row.stats
        let composition = zip(SequenceStatistics.standardResidues, s.standardCounts).map { code, count in
            (String(UnicodeScalar(code)), JSONText.number(s.residues == 0 ? 0 : Double(count) / Double(s.residues)))
        }
        let nonStandard = s.nonStandardCounts.map { (String($0.character), JSONText.number($0.count)) }
        return JSONText.object([
            ("file", JSONText.string(row.file)),
            ("format", row.format.map { JSONText.string($0.rawValue) } ?? "null"),
            ("compression", JSONText.string(row.compression.rawValue)),
            ("records", JSONText.number(s.records)),
            ("residues", JSONText.number(s.residues)),
            ("min_length", JSONText.number(s.minLength)),
            ("max_length", JSONText.number(s.maxLength)),
            ("mean_length", JSONText.number(s.meanLength)),
            ("nonstandard", JSONText.number(s.nonStandardResidues)),
            ("nonstandard_counts", JSONText.object(nonStandard)),
            ("integrity_mismatches", JSONText.number(row.mismatches)),
            ("composition", JSONText.object(composition)),
        ])
    }
}
