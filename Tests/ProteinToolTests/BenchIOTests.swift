import Foundation
import Testing

/// `protein-tool bench io` end to end on the bundled data: every phase reads the same records and
/// residues (the command itself fails if the two-pass and fused phases disagree), `--phases`
/// selects, unknown phases are a one-line error. Timings are never asserted.
@Suite struct BenchIOTests {
    static func path(_ relative: String) -> String { StatsConvertTests.path(relative) }

    @Test(arguments: ["data/uniprot_sample.fasta.gz", "data/swissprot_sample.dat"])
    func allPhasesReadTheSameRecords(file: String) throws {
        let result = try CLI.run(["bench", "io", Self.path(file), "--repeats", "1", "--format", "json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        let rows = try #require(parsed as? [[String: Any]])
        #expect(rows.compactMap { $0["phase"] as? String } == ["inflate", "parse", "two-pass", "tokenise"])
        for row in rows {
            for key in ["seconds", "mb_per_s", "cpu_seconds", "mb_per_cpu_s", "ratio_to_inflate", "peak_rss_bytes"] {
                #expect(row[key] != nil, "missing \(key) in \(row)")
            }
        }
        let parsing = rows.dropFirst()
        let records = Set(parsing.compactMap { $0["records"] as? Int })
        let residues = Set(parsing.compactMap { $0["residues"] as? Int })
        #expect(records.count == 1 && (records.first ?? 0) > 0)
        #expect(residues.count == 1 && (residues.first ?? 0) > 0)
    }

    @Test func phasesCanBeSelected() throws {
        let result = try CLI.run(["bench", "io", Self.path("data/uniprot_sample.fasta.gz"), "--repeats", "1",
                                  "--phases", "tokenise,parse"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let phases = result.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: "\t")[0] }
        #expect(phases == ["parse", "tokenise"])
        // No inflate phase: no ratio to it.
        #expect(result.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.split(separator: "\t")[6] == "-" })

        let bad = try CLI.run(["bench", "io", Self.path("data/uniprot_sample.fasta.gz"), "--phases", "tokenize"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("unknown phase 'tokenize'"))
    }
}
