import Foundation
import Testing

/// End-to-end tests of `protein-tool stats` and `convert` on the bundled data, with expected values
/// from Biopython and seqkit (Tests/ProteinToolTests/Expected/make_expected.py, output committed).
@Suite struct StatsConvertTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    struct Expected: Decodable {
        struct File: Decodable {
            struct First: Decodable { var id: String; var accessions: [String]; var length: Int; var sequence: String }
            var file: String
            var records: Int
            var residues: Int
            var min_length: Int
            var max_length: Int
            var standard_counts: [String: Int]
            var nonstandard: Int
            var first_records: [First]
        }
        var files: [File]
    }

    static func expected() throws -> Expected {
        let data = try Data(contentsOf: root.appendingPathComponent("Tests/ProteinToolTests/Expected/data-stats.json"))
        return try JSONDecoder().decode(Expected.self, from: data)
    }

    static func jsonArray(_ text: String) throws -> [[String: Any]] {
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(parsed as? [[String: Any]])
    }

    @Test func statsJSONMatchesBiopythonAndSeqkit() throws {
        let expected = try Self.expected()
        let result = try CLI.run(["stats", "--format", "json"] + expected.files.map { Self.path($0.file) })
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try Self.jsonArray(result.stdout)
        #expect(rows.count == expected.files.count)
        for (row, file) in zip(rows, expected.files) {
            #expect(row["records"] as? Int == file.records)
            #expect(row["residues"] as? Int == file.residues)
            #expect(row["min_length"] as? Int == file.min_length)
            #expect(row["max_length"] as? Int == file.max_length)
            #expect(row["nonstandard"] as? Int == file.nonstandard)
            let mean = try #require(row["mean_length"] as? Double)
            #expect(abs(mean - Double(file.residues) / Double(file.records)) < 1e-9)
            let composition = try #require(row["composition"] as? [String: Double])
            for (letter, count) in file.standard_counts {
                let fraction = try #require(composition[letter])
                #expect(abs(fraction - Double(count) / Double(file.residues)) < 1e-12, "\(letter)")
            }
            #expect(row["integrity_mismatches"] as? Int == 0)
        }
        #expect(rows[0]["format"] as? String == "fasta")
        #expect(rows[0]["compression"] as? String == "gzip")
        #expect(rows[1]["format"] as? String == "uniprot")
        #expect(rows[1]["compression"] as? String == "none")
    }

    @Test func statsTSVHasOneRowPerFileAndReadsStandardInput() throws {
        let expected = try Self.expected()
        let gz = try Data(contentsOf: URL(fileURLWithPath: Self.path(expected.files[0].file)))
        let result = try CLI.run(["stats", "-"], stdin: gz)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        #expect(lines.count == 2)
        let header = lines[0].map(String.init), row = lines[1].map(String.init)
        #expect(header.count == row.count)
        let fields = Dictionary(uniqueKeysWithValues: zip(header, row))
        #expect(fields["file"] == "-")
        #expect(fields["compression"] == "gzip")
        #expect(fields["records"] == "\(expected.files[0].records)")
        #expect(fields["residues"] == "\(expected.files[0].residues)")
    }

    @Test func statsOnEmptyInputIsZeroRecordsNotAnError() throws {
        let result = try CLI.run(["stats", "--format", "json", "-"], stdin: Data())
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try Self.jsonArray(result.stdout)
        #expect(rows.first?["records"] as? Int == 0)
    }

    @Test(arguments: [
        ("missing file", Data(), "/no/such/file.fasta"),
        ("binary junk", Data([0x00, 0xff, 0x13, 0x37, 0x42, 0x00, 0x01]), "-"),
        ("corrupt gzip", Data([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0xff, 0xff]), "-"),
    ])
    func badInputIsAOneLineErrorAndNonZeroExit(_ name: String, _ stdin: Data, _ file: String) throws {
        let result = try CLI.run(["stats", file], stdin: stdin)
        #expect(result.status != 0, "\(name)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(name): \(result.stderr)")
        #expect(result.stderr.contains(file == "-" ? "-" : file), "\(name)")
        #expect(result.stdout.isEmpty || !result.stdout.contains("\t"), "\(name)")
    }

    @Test func truncatedGzipIsAnError() throws {
        let expected = try Self.expected()
        let gz = try Data(contentsOf: URL(fileURLWithPath: Self.path(expected.files[0].file)))
        let result = try CLI.run(["stats", "-"], stdin: gz.prefix(gz.count / 2))
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func convertJSONLCarriesSequenceAndUniProtFields() throws {
        let expected = try Self.expected()
        for file in expected.files {
            let result = try CLI.run(["convert", "--to", "jsonl", Self.path(file.file)])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == file.records)
            for (line, first) in zip(lines, file.first_records) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["id"] as? String == first.id)
                #expect(object["sequence"] as? String == first.sequence)
                #expect(object["length"] as? Int == first.length)
                if !first.accessions.isEmpty {
                    #expect(object["accessions"] as? [String] == first.accessions)
                    #expect((object["crc64"] as? String)?.count == 16)
                    #expect(object["keywords"] is [String])
                }
                #expect(object["db"] is String)
            }
        }
    }

    @Test func convertToFASTARoundTripsThroughStats() throws {
        let expected = try Self.expected()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pp-convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (index, file) in expected.files.enumerated() {
            let out = scratch.appendingPathComponent("out\(index).fasta").path
            let convert = try CLI.run(["convert", "--to", "fasta", "--out", out, Self.path(file.file)])
            #expect(convert.status == 0, "\(convert.stderr)")
            let stats = try CLI.run(["stats", "--format", "json", out])
            let row = try #require(try Self.jsonArray(stats.stdout).first)
            #expect(row["records"] as? Int == file.records)
            #expect(row["residues"] as? Int == file.residues)
            #expect(row["format"] as? String == "fasta")
        }
    }

    @Test func failedConvertLeavesAnEarlierOutputUntouched() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pp-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("keep.tsv")
        try Data("earlier output\n".utf8).write(to: out)
        // A good record followed by junk: the run fails after it has started writing.
        let input = Data(">a\nACDE\n>b\nAC\u{0}\u{1}DE\n".utf8)
        let result = try CLI.run(["convert", "--to", "tsv", "--out", out.path, "-"], stdin: input)
        #expect(result.status != 0)
        #expect(try String(contentsOf: out, encoding: .utf8) == "earlier output\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        #expect(leftovers == ["keep.tsv"])
    }
}
