import Foundation
import Testing

/// `train` and `eval` through the built binary on the bundled data.
@Suite("CLI: train and eval")
struct TrainEvalTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let sample = repository.appendingPathComponent("data/uniprot_sample.fasta.gz").path

    static func scratch(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "train-eval-\(getpid())-\(name)"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    static let tinyFlags = ["--preset", "tiny", "--dim", "16", "--heads", "2", "--layers", "1", "--features", "8",
                            "--seq-len", "64", "--batch", "2", "--log-every", "2", "--eval-every", "4",
                            "--eval-windows", "2", "--warmup", "2"]

    @Test("train writes model, checkpoint and metrics; eval reads the model back; --resume extends the run")
    func trainThenEval() throws {
        let out = Self.scratch("run")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let train = try CLI.run(["train", "--corpus", Self.sample, "--out", out, "--steps", "6"] + Self.tinyFlags)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("validation perplexity"))
        for file in ["model.safetensors", "checkpoint.safetensors", "metrics.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["step", "loss", "lr", "tokens_per_s", "grad_norm", "elapsed_s"] {
                #expect(object[key] != nil, "key \(key) in \(line)")
            }
        }
        #expect(lines.last?.contains("\"val_ppl\"") == true)

        let eval = try CLI.run(["eval", "--model", out + "/model.safetensors", Self.sample, "--format", "json", "--batch", "2"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let perplexity = try #require(object["perplexity"] as? Double)
        let residues = try #require(object["residues"] as? Int)
        #expect(perplexity > 1 && perplexity < 40 && residues > 100)
        #expect(object["split"] as? String == "validation")

        // Without --resume the directory is protected; with it the run continues to step 10.
        let again = try CLI.run(["train", "--corpus", Self.sample, "--out", out, "--steps", "10"] + Self.tinyFlags)
        #expect(again.status != 0 && again.stderr.contains("--resume"))
        let resumed = try CLI.run(["train", "--out", out, "--resume", "--steps", "10", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let steps = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count
        #expect(steps == 5)
    }

    @Test("the model file loads in Python's safetensors (when installed) with the documented names")
    func pythonLoadsTheModel() throws {
        let out = Self.scratch("python")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let train = try CLI.run(["train", "--corpus", Self.sample, "--out", out, "--steps", "2", "--quiet"] + Self.tinyFlags)
        #expect(train.status == 0, "\(train.stderr)")
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import safetensors.numpy"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { print("python3 not found: Python load check skipped"); return }
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            print("Python package safetensors not installed: Python load check skipped")
            return
        }
        let script = """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], "np") as f:
                meta = f.metadata()
            config = json.loads(meta["config"])
            assert t["embedding.weight"].shape == (31, config["dim"]), t["embedding.weight"].shape
            assert t["blocks.0.attn.random_features"].shape == (config["features"], config["dim"] // config["heads"])
            print(meta["format"], len(t), config["attention"])
            """
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = ["python3", "-c", script, out + "/model.safetensors"]
        let pipe = Pipe()
        run.standardOutput = pipe
        try run.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        #expect(output.hasPrefix("protein-performer "))
        #expect(output.contains("favor-relu"))
    }

    @Test("bad input is a one-line error with a non-zero exit", arguments: [
        ["train", "--out", "/tmp/x"],  // no corpus
        ["train", "--corpus", "data/uniprot_sample.fasta.gz", "--out", "/tmp/x"],  // no steps or time
        ["train", "--corpus", "-", "--out", "/tmp/x", "--steps", "2"],  // stdin cannot cycle
        ["train", "--corpus", "data/uniprot_sample.fasta.gz", "--out", "/tmp/x", "--steps", "2", "--dim", "30", "--heads", "4"],
        ["train", "--out", "/tmp/protein-performer-no-such-run", "--resume"],
        ["eval", "--model", "/no/such/model.safetensors", "data/uniprot_sample.fasta.gz"],
        ["eval", "--model", "data/uniprot_sample.fasta.gz", "data/uniprot_sample.fasta.gz"],  // not a safetensors file
    ])
    func badInput(arguments: [String]) throws {
        let result = try CLI.run(arguments.map { $0.hasPrefix("data/") ? Self.repository.appendingPathComponent($0).path : $0 })
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty }
        #expect(lines.count == 1, "stderr: \(result.stderr)")
    }
}
