import Foundation
import PerformerModel
import ProteinIO
import Testing

/// `protein-tool score` and `fill` through the built binary, on tiny random models written with
/// `ModelCheckpoint.save`; numbers are checked against the library (`SequenceScorer`,
/// `MaskFiller`) run on the same file.
@Suite struct ScoreFillTests {
    /// Model files and inputs, written once per test process.
    final class Files: @unchecked Sendable {
        let directory: String
        let mlm: String
        let causal: String
        /// The masked LM again, with a training configuration of seq_len 20 in its metadata.
        let windowed: String
        let fasta: String

        init() {
            directory = NSTemporaryDirectory() + "score-fill-\(getpid())"
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            mlm = directory + "/mlm.safetensors"
            causal = directory + "/causal.safetensors"
            windowed = directory + "/windowed.safetensors"
            fasta = directory + "/proteins.fasta"
            for (path, causal) in [(mlm, false), (causal, true)] {
                let configuration = PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 8, ffnDim: 32,
                                                           attention: .favorRelu, causal: causal)
                let model = PerformerLM(configuration: configuration, seed: causal ? 2 : 1)
                var g = SeededGenerator(seed: causal ? 4 : 3)
                // Spread the weights so predictions differ from uniform.
                for i in 0..<model.parameters.count { model.parameters.values.data[i] += Float(0.3 * g.nextGaussian()) }
                do {
                    try ModelCheckpoint.save(model, modelSeed: 1, to: path)
                    if !causal {
                        try ModelCheckpoint.save(model, modelSeed: 1, to: windowed,
                                                 extraMetadata: ["training": #"{"seq_len":20,"batch":2}"#])
                    }
                } catch {
                    Issue.record("cannot write \(path): \(error)")
                }
            }
            let text = ">P1 first protein\nMKTAYIAKQRQISFVKSHFSRQ\n>P2\nGSHMLEDPVDAFQ\nJWK\n>P3 empty-ish\nACDEFGHIKLMNPQRSTVWY\n"
            FileManager.default.createFile(atPath: fasta, contents: Data(text.utf8))
        }

        func write(_ name: String, _ text: String) -> String {
            let path = directory + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
    }

    static let files = Files()

    static func json(_ text: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
    }

    static func tsv(_ text: String) -> [[String: String]] {
        let lines = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    /// The proteins of `files.fasta`, tokenised as the CLI does.
    static func proteins() throws -> [(id: String, residues: [TokenID])] {
        let reader = try SequenceReader(path: files.fasta)
        var out: [(String, [TokenID])] = []
        while let record = try reader.next() {
            out.append((record.id, try Tokenizer().tokenize(record.residues, id: record.id, file: files.fasta)))
        }
        return out
    }

    /// A run error: non-zero exit, exactly one line on standard error.
    static func expectOneLineError(_ result: CLIResult, containing parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        for part in parts {
            #expect(result.stderr.contains(part), "'\(part)' not in \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    // MARK: score

    @Test func pllTSVMatchesTheLibrary() throws {
        let result = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--batch", "5"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("id\tlength\tscored\tlog_likelihood\tperplexity\tmethod\tend_log_prob\n"))
        let rows = Self.tsv(result.stdout)
        let proteins = try Self.proteins()
        #expect(rows.count == proteins.count)
        let scorer = SequenceScorer(model: try ModelCheckpoint.load(path: Self.files.mlm).model)
        for (row, protein) in zip(rows, proteins) {
            let score = try scorer.score(protein.residues)
            #expect(row["id"] == protein.id && row["method"] == "pll" && row["end_log_prob"] == "NA")
            #expect(row["length"] == "\(score.length)" && row["scored"] == "\(score.scored)")
            #expect(abs((Double(row["log_likelihood"] ?? "") ?? .nan) - score.logLikelihood) < 2e-5)
            #expect(abs((Double(row["perplexity"] ?? "") ?? .nan) - score.perplexity) < 2e-5 * score.perplexity)
        }
        #expect(rows[1]["length"] == "16" && rows[1]["scored"] == "15")  // J is <unk>: read, not scored
    }

    @Test func jsonPerResidueParsesAndMarksUnknownResidues() throws {
        let result = try CLI.run(["score", "--model", Self.files.mlm, "-", "--method", "wt-marginal", "--per-residue",
                                  "--format", "json"], stdin: try Data(contentsOf: URL(fileURLWithPath: Self.files.fasta)))
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try Self.json(result.stdout)
        #expect(objects.count == 3)
        for object in objects {
            for key in ["id", "length", "scored", "log_likelihood", "perplexity", "method", "end_log_prob", "exceeds_window", "per_residue"] {
                #expect(object.keys.contains(key), "\(key)")
            }
            #expect(object["method"] as? String == "wt-marginal")
            #expect(object["end_log_prob"] is NSNull)
            let perResidue = try #require(object["per_residue"] as? [Any])
            #expect(perResidue.count == object["length"] as? Int)
            let values = perResidue.compactMap { $0 as? Double }
            #expect(values.count == object["scored"] as? Int)
            #expect(abs(values.reduce(0, +) - (object["log_likelihood"] as? Double ?? .nan)) < 1e-9)
        }
        #expect((objects[1]["per_residue"] as? [Any])?[13] is NSNull)  // the J
    }

    @Test func perResidueTSVIsLongFormat() throws {
        let result = try CLI.run(["score", "--model", Self.files.causal, Self.files.fasta, "--per-residue"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = Self.tsv(result.stdout)
        #expect(rows.count == 22 + 16 + 20)
        #expect(rows[0]["position"] == "1" && rows[0]["residue"] == "M" && rows[0]["method"] == "causal")
        #expect(rows[22 + 13]["residue"] == "<unk>" && rows[22 + 13]["log_prob"] == "NA")
        #expect(Double(rows[0]["end_log_prob"] ?? "") != nil)
    }

    @Test func causalModelsScoreExactlyAndRejectMaskedLMMethods() throws {
        let result = try CLI.run(["score", "--model", Self.files.causal, Self.files.fasta, "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try Self.json(result.stdout)
        let scorer = SequenceScorer(model: try ModelCheckpoint.load(path: Self.files.causal).model)
        for (object, protein) in zip(objects, try Self.proteins()) {
            let score = try scorer.score(protein.residues)
            #expect(object["method"] as? String == "causal")
            #expect(abs((object["log_likelihood"] as? Double ?? .nan) - score.logLikelihood) < 1e-5)
            #expect(abs((object["end_log_prob"] as? Double ?? .nan) - (score.endLogProbability ?? .nan)) < 1e-5)
        }
        Self.expectOneLineError(try CLI.run(["score", "--model", Self.files.causal, Self.files.fasta, "--method", "pll"]),
                                containing: ["pll", "causal"])
    }

    @Test func longProteinsAreScoredAndReported() throws {
        let result = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--max-length", "20",
                                  "--method", "wt-marginal", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let flags = try Self.json(result.stdout).map { $0["exceeds_window"] as? Bool }
        #expect(flags == [true, false, true])
        #expect(result.stderr.contains("2 sequences longer than the training window (20 tokens"))

        // The window a trained model records (seq_len of its training metadata) is the default.
        let recorded = try CLI.run(["score", "--model", Self.files.windowed, Self.files.fasta, "--method", "wt-marginal",
                                    "--format", "json"])
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(try Self.json(recorded.stdout).map { $0["exceeds_window"] as? Bool } == [true, false, true])
        let fallback = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--format", "json"])
        #expect(try Self.json(fallback.stdout).allSatisfy { $0["exceeds_window"] as? Bool == false })
        #expect(fallback.stderr.isEmpty)
    }

    // MARK: variants

    @Test func mutationsMatchTheLibraryAndWrongWildTypeIsAnError() throws {
        let result = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--mutations", "A4G,K6R"])
        // P1 has A4 and I6: the wild type is wrong for K6R.
        Self.expectOneLineError(result, containing: ["A4G,K6R", "K6R", "P1", "has I"])

        let single = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--mutations", "C2A"])
        Self.expectOneLineError(single, containing: ["C2A", "P1", "has K"])

        let file = Self.files.write("variants.tsv", "sequence_id\tid\tmutations\tdms\nP1\tv1\tA4G\t0.5\nP1\tv2\tA4G:K2R\t0.1\nP3\tv3\tC2W\t1\n")
        let ok = try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--variants", file, "--format", "json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let objects = try Self.json(ok.stdout)
        #expect(objects.map { $0["variant"] as? String } == ["v1", "v2", "v3"])
        #expect(objects.map { $0["id"] as? String } == ["P1", "P1", "P3"])
        #expect(objects[1]["mutations"] as? String == "A4G,K2R")
        #expect(objects.allSatisfy { $0["method"] as? String == "masked-marginal" })
        let proteins = try Self.proteins()
        let scorer = SequenceScorer(model: try ModelCheckpoint.load(path: Self.files.mlm).model)
        let expected = try scorer.scoreVariants([try VariantSet(id: "v1", parsing: "A4G"), try VariantSet(id: "v2", parsing: "A4G,K2R")],
                                                residues: proteins[0].residues, sequenceID: "P1")
        #expect(abs((objects[0]["score"] as? Double ?? .nan) - expected[0].score) < 1e-6)
        #expect(abs((objects[1]["score"] as? Double ?? .nan) - expected[1].score) < 1e-6)

        let tsv = try CLI.run(["score", "--model", Self.files.causal, Self.files.fasta, "--variants", file])
        #expect(tsv.status == 0, "\(tsv.stderr)")
        #expect(tsv.stdout.hasPrefix("id\tvariant\tmutations\tscore\tmethod\n"))
        #expect(Self.tsv(tsv.stdout).map { $0["method"] } == Array(repeating: "log-likelihood-ratio", count: 3))

        let missing = Self.files.write("missing.tsv", "sequence_id\tmutations\nQ9\tA4G\n")
        Self.expectOneLineError(try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--variants", missing]),
                                containing: ["Q9"])
        let bad = Self.files.write("bad.tsv", "A4G\nA0G\n")
        Self.expectOneLineError(try CLI.run(["score", "--model", Self.files.mlm, Self.files.fasta, "--variants", bad]),
                                containing: ["bad.tsv:2", "A0G"])
    }

    @Test func flagConflictsAreRejectedBeforeAnyWork() throws {
        for arguments in [["--mutations", "A4G", "--variants", "x.tsv"], ["--mutations", "A4G", "--per-residue"],
                          ["--mutations", "A4G", "--method", "pll"], ["--batch", "0"], ["--max-length", "0"],
                          ["--mutations", "A0G"], ["--method", "bogus"]] {
            let result = try CLI.run(["score", "--model", "/nonexistent/model.safetensors", Self.files.fasta] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.hasPrefix("Error: "), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("nonexistent"), "\(arguments): validated after loading")
        }
        Self.expectOneLineError(try CLI.run(["score", "--model", Self.files.directory + "/none.safetensors", Self.files.fasta]),
                                containing: ["none.safetensors"])
    }

    // MARK: fill

    @Test func fillInlineTextAndJSON() throws {
        let text = try CLI.run(["fill", "--model", Self.files.mlm, "MKT#AYI_KQ<mask>R", "--top-k", "3"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        #expect(lines[0] == ">sequence" && lines[1] == "input\tMKT#AYI#KQ#R")
        #expect(lines[2].hasPrefix("filled\t") && lines[2].count == "filled\t".count + 12 && !lines[2].contains("#"))
        #expect(lines[3].hasPrefix("4\t") && lines[4].hasPrefix("8\t") && lines[5].hasPrefix("11\t"))
        #expect(lines[3].split(separator: "\t").count == 4)

        let json = try CLI.run(["fill", "--model", Self.files.mlm, "mkt#ayi_kq<mask>r", "--top-k", "0", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try Self.json(json.stdout).first)
        #expect(object["method"] as? String == "masked-lm" && object["alphabet"] as? String == "standard")
        let filled = try #require(object["filled"] as? String)
        let masked = try #require(object["masked"] as? [[String: Any]])
        #expect(masked.map { $0["position"] as? Int } == [4, 8, 11])
        let model = try ModelCheckpoint.load(path: Self.files.mlm).model
        let library = try MaskFiller(model: model).fill(try MaskedSequence(parsing: Array("MKT#AYI#KQ#R".utf8)), topK: 0)
        #expect(filled == library.filledSequence)
        for (site, expected) in zip(masked, library.sites) {
            let predictions = try #require(site["predictions"] as? [[String: Any]])
            #expect(predictions.count == 20)
            let probabilities = predictions.compactMap { $0["probability"] as? Double }
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-9)
            #expect(zip(probabilities, probabilities.dropFirst()).allSatisfy { $0 >= $1 })
            #expect(predictions.compactMap { $0["residue"] as? String } == expected.candidates.map(\.letter))
            let position = try #require(site["position"] as? Int)
            #expect(Array(filled)[position - 1] == Character(expected.candidates[0].letter))
        }
    }

    @Test func fillReadsFilesAndCausalModelsFillGreedily() throws {
        let path = Self.files.write("masked.fasta", ">m1\nMKT#AY\nIAK\n>m2 x\nG_<mask>S\n")
        let result = try CLI.run(["fill", "--model", Self.files.causal, path, "--format", "json", "--alphabet", "all", "--top-k", "30"])
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try Self.json(result.stdout)
        #expect(objects.map { $0["id"] as? String } == ["m1", "m2"])
        #expect(objects.allSatisfy { $0["method"] as? String == "causal-greedy" })
        let sites = try #require(objects[1]["masked"] as? [[String: Any]])
        #expect(sites.count == 2 && (sites[0]["predictions"] as? [Any])?.count == 25)
    }

    @Test func fillErrorsAreOneLine() throws {
        Self.expectOneLineError(try CLI.run(["fill", "--model", Self.files.mlm, "MKTAY"]), containing: ["no masked position"])
        Self.expectOneLineError(try CLI.run(["fill", "--model", Self.files.mlm, "MK#J"]), containing: ["'J' at residue 4"])
        Self.expectOneLineError(try CLI.run(["fill", "--model", Self.files.mlm, "missing.fasta"]), containing: ["missing.fasta", "no such file"])
        let bad = try CLI.run(["fill", "--model", Self.files.mlm, "MK#", "--top-k", "-1"])
        #expect(bad.status != 0 && bad.stderr.hasPrefix("Error: "))
    }

    @Test func helpDescribesFormatsAndDefinitions() throws {
        let score = try CLI.run(["score", "--help"])
        #expect(score.status == 0)
        for term in ["pll", "wt-marginal", "masked-marginal", "log-likelihood-ratio", "perplexity", "end_log_prob",
                     "per_residue", "exceeds_window", "--variants", "sequence_id", "<cls>"] {
            #expect(score.stdout.contains(term), "score --help lacks \(term)")
        }
        let fill = try CLI.run(["fill", "--help"])
        #expect(fill.status == 0)
        for term in ["<mask>", "#", "_", "top-k", "causal", "restricted", "predictions"] {
            #expect(fill.stdout.contains(term), "fill --help lacks \(term)")
        }
    }
}
