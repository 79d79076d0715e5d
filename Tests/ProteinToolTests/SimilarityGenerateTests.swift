import Foundation
import Testing

/// `similarity` and `generate` through the built binary, on tiny models trained for a few steps
/// by `train` on the bundled sample (the numbers are not meaningful; the plumbing is).
@Suite("CLI: similarity and generate", .serialized)
struct SimilarityGenerateTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let sample = repository.appendingPathComponent("data/uniprot_sample.fasta.gz").path
    static let blosum = repository.appendingPathComponent("data/BLOSUM62").path
    static let directory: String = {
        let path = NSTemporaryDirectory() + "similarity-generate-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A tiny model (dim 16, 2 layers × 2 heads, m 8) trained for 4 steps: mlm or causal.
    static func model(_ objective: String) throws -> String {
        let out = directory + "/" + objective
        let path = out + "/model.safetensors"
        if FileManager.default.fileExists(atPath: path) { return path }
        let result = try CLI.run(["train", "--corpus", sample, "--out", out, "--steps", "4", "--objective", objective,
                                  "--preset", "tiny", "--dim", "16", "--heads", "2", "--layers", "2", "--features", "8",
                                  "--seq-len", "64", "--batch", "2", "--warmup", "1", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    static func summary(_ line: String) -> (pearson: Double, spearman: Double, pairs: Int)? {
        let fields = line.split(separator: " ")
        guard fields.count >= 6, fields[0] == "pearson", fields[2] == "spearman", fields[4] == "pairs",
              let r = Double(fields[1]), let rho = Double(fields[3]), let pairs = Int(fields[5]) else { return nil }
        return (r, rho, pairs)
    }

    /// The NCBI-layout text as (letters, rows of numbers), skipping '#' comments.
    static func ncbi(_ text: String) -> (letters: [String], rows: [String: [Double]]) {
        var letters: [String] = []
        var rows: [String: [Double]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if letters.isEmpty { letters = fields; continue }
            rows[fields[0]] = fields.dropFirst().compactMap(Double.init)
        }
        return (letters, rows)
    }

    @Test("similarity: one summary line; JSON, TSV and NCBI outputs agree with it; SVG and PNG heatmaps")
    func similarityOutputs() throws {
        let model = try Self.model("mlm")
        let base = ["similarity", "--model", model, "--corpus", Self.sample, "--max-proteins", "120", "--seq-len", "64",
                    "--blosum", Self.blosum]
        let jsonPath = Self.directory + "/sim.json", svg = Self.directory + "/sim.svg"
        let json = try CLI.run(base + ["--out", jsonPath, "--format", "json", "--heatmap", svg])
        #expect(json.status == 0, "\(json.stderr)")
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let printed = try #require(Self.summary(String(lines[0])))
        #expect(printed.pairs == 190 && abs(printed.pearson) <= 1 && abs(printed.spearman) <= 1)
        #expect(lines[0].contains("120 proteins"))

        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonPath))) as? [String: Any])
        #expect(object["method"] as? String == "attention" && object["units"] as? String == "half-bits")
        #expect(object["pairs"] as? Int == 190 && object["proteins"] as? Int == 120 && object["window_length"] as? Int == 64)
        let pearson = try #require(object["pearson"] as? Double), spearman = try #require(object["spearman"] as? Double)
        #expect(abs(pearson - printed.pearson) < 1e-4 && abs(spearman - printed.spearman) < 1e-4)
        let controlPearson = try #require(object["control_pearson"] as? Double)
        #expect(abs(controlPearson) <= 1 && lines[0].contains("control: pearson \(String(format: "%.4f", controlPearson))"))
        let letters = try #require(object["letters"] as? [String])
        #expect(letters.joined() == "ARNDCQEGHILKMFPSTWYV")
        let scores = try #require(object["scores"] as? [[Double]])
        #expect(scores.count == 20 && scores.allSatisfy { $0.count == 20 })
        for i in 0..<20 { for j in 0..<20 { #expect(scores[i][j] == scores[j][i]) } }

        let svgText = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(svgText.contains("<svg") && svgText.components(separatedBy: "<rect ").count - 1 == 402)
        #expect(svgText.contains("Pearson \(String(format: "%.4f", printed.pearson))"))

        // TSV and NCBI of the same run hold the same numbers (3 decimals) and the summary comments.
        let tsvPath = Self.directory + "/sim.tsv", ncbiPath = Self.directory + "/sim.ncbi", png = Self.directory + "/sim.png"
        #expect(try CLI.run(base + ["--out", tsvPath]).status == 0)
        let ncbi = try CLI.run(base + ["--out", ncbiPath, "--format", "ncbi", "--heatmap", png])
        #expect(ncbi.status == 0, "\(ncbi.stderr)")
        #expect(ncbi.stdout == json.stdout)  // deterministic
        for path in [tsvPath, ncbiPath] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("# vs \(Self.blosum) over 190 off-diagonal pairs: Pearson r = \(String(format: "%.4f", printed.pearson))"))
            let table = Self.ncbi(text)
            #expect(table.letters.joined() == "ARNDCQEGHILKMFPSTWYV")
            for (i, a) in table.letters.enumerated() {
                let row = try #require(table.rows[a])
                #expect(row.count == 20)
                for j in 0..<20 { #expect(abs(row[j] - scores[i][j]) <= 0.0005 + 1e-12) }
            }
        }
        let pngBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: png)))
        #expect(Array(pngBytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(String(decoding: pngBytes[12..<16], as: UTF8.self) == "IHDR")
    }

    @Test("similarity --method head-profile: a correlation matrix (diagonal 1); causal models work too")
    func headProfileAndCausal() throws {
        for objective in ["mlm", "causal"] {
            let model = try Self.model(objective)
            let out = Self.directory + "/profile-\(objective).json"
            let result = try CLI.run(["similarity", "--model", model, "--corpus", Self.sample, "--max-proteins", "60",
                                      "--seq-len", "64", "--out", out, "--format", "json", "--method", "head-profile",
                                      "--blosum", Self.blosum])
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
            let scores = try #require(object["scores"] as? [[Double]])
            for i in 0..<20 {
                #expect(abs(scores[i][i] - 1) < 1e-3)
                for j in 0..<20 { #expect(abs(scores[i][j]) <= 1.0005) }
            }
            #expect(object["causal"] as? Bool == (objective == "causal"))
        }
    }

    @Test("similarity errors: missing amino acids, a broken --blosum, a bad --heatmap name — one line, non-zero, no output file")
    func similarityErrors() throws {
        let model = try Self.model("mlm")
        let fasta = Self.directory + "/few.fasta"
        try ">p1\nACDEACDEKKLL\n>p2\nMMNNPPQQ\n".write(toFile: fasta, atomically: true, encoding: .utf8)
        let out = Self.directory + "/never.tsv"
        let missing = try CLI.run(["similarity", "--model", model, "--corpus", fasta, "--out", out, "--seq-len", "16",
                                   "--blosum", Self.blosum])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("never seen: R, G, H, I, F, S, T, W, Y, V"), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: out))

        let broken = Self.directory + "/broken-blosum"
        try "   A  R\nA  4 -1\nR -1\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["similarity", "--model", model, "--corpus", Self.sample, "--out", out, "--blosum", broken])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("\(broken):3: row 'R' has 1 scores, the header has 2 letters"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))

        let name = try CLI.run(["similarity", "--model", model, "--corpus", Self.sample, "--out", out, "--heatmap", "x.jpg"])
        #expect(name.status != 0 && name.stderr.contains("--heatmap must end in .svg or .png"))
        let noCorpus = try CLI.run(["similarity", "--model", model, "--out", out])
        #expect(noCorpus.status != 0 && noCorpus.stderr.contains("--corpus"))
    }

    @Test("generate: FASTA and JSON, reproducible from --seed, prompt kept, lengths within --max-length")
    func generateOutputs() throws {
        let model = try Self.model("causal")
        let args = ["generate", "--model", model, "--count", "4", "--max-length", "40", "--prompt", "mkt", "--seed", "11"]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try CLI.run(args)
        #expect(first.stdout == second.stdout && !first.stdout.isEmpty)
        let other = try CLI.run(args.dropLast() + ["12"])
        #expect(other.stdout != first.stdout)
        let headers = first.stdout.split(separator: "\n").filter { $0.hasPrefix(">") }
        #expect(headers.count == 4)
        #expect(headers[0].hasPrefix(">gen_1 length=") && headers[0].contains("prompt_length=3 stop="))

        let json = try CLI.run(args + ["--format", "json", "--temperature", "0.8", "--top-k", "5"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["prompt"] as? String == "MKT" && object["top_k"] as? Int == 5 && object["seed"] as? Int == 11)
        let sequences = try #require(object["sequences"] as? [[String: Any]])
        #expect(sequences.count == 4)
        for s in sequences {
            let sequence = try #require(s["sequence"] as? String)
            #expect(sequence.hasPrefix("MKT") && sequence.count <= 40 && s["length"] as? Int == sequence.count)
            #expect(sequence.allSatisfy { "ACDEFGHIKLMNPQRSTVWY".contains($0) })
            let stop = try #require(s["stop"] as? String)
            #expect(["sep", "eos", "max-length"].contains(stop))
            #expect(stop != "max-length" || sequence.count == 40)
            #expect((s["log_likelihood"] as? Double).map { $0 < 0 } == true)
        }
        // Greedy decoding is deterministic whatever the seed.
        let greedyA = try CLI.run(["generate", "--model", model, "--temperature", "0", "--seed", "1", "--max-length", "30"])
        let greedyB = try CLI.run(["generate", "--model", model, "--temperature", "0", "--seed", "2", "--max-length", "30"])
        #expect(greedyA.status == 0 && greedyA.stdout == greedyB.stdout)
    }

    @Test("generate errors: a masked-LM model, a bad prompt, no room after the prompt")
    func generateErrors() throws {
        let mlm = try CLI.run(["generate", "--model", try Self.model("mlm")])
        #expect(mlm.status != 0 && mlm.stderr.contains("generate needs a causal model"))
        #expect(mlm.stderr.split(separator: "\n").count == 1)
        let causal = try Self.model("causal")
        let prompt = try CLI.run(["generate", "--model", causal, "--prompt", "MKJ"])
        #expect(prompt.status != 0 && prompt.stderr.contains("'J' at position 3 is not an amino-acid letter"))
        let room = try CLI.run(["generate", "--model", causal, "--prompt", "MKT", "--max-length", "3"])
        #expect(room.status != 0 && room.stderr.contains("leaves no room"))
        let missing = try CLI.run(["generate", "--model", Self.directory + "/no-such-model.safetensors"])
        #expect(missing.status != 0 && !missing.stderr.isEmpty)
    }
}
