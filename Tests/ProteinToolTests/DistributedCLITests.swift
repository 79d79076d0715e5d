import Foundation
import Testing
import PerformerModel

/// `mpirun -np N protein-tool train … --distributed` on this machine's loopback. Runs only when
/// PROTEIN_PERFORMER_MPI=1 (scripts/test-mpi.sh builds the MPI-enabled tool and sets it);
/// skipped in the default build, which has no MPI.
@Suite("CLI: train --distributed over MPI (scripts/test-mpi.sh)", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["PROTEIN_PERFORMER_MPI"] == "1",
                "needs an MPI build: scripts/test-mpi.sh"))
struct DistributedCLITests {
    static let length = 48

    /// Tiny causal model, every protein exactly one window (see `writeFixedLengthCorpus`).
    static let flags = [
        "--dim", "16", "--layers", "2", "--heads", "2", "--features", "8", "--attention", "favor-relu",
        "--objective", "causal", "--seq-len", String(length), "--lr", "3e-3", "--warmup", "3",
        "--redraw-every", "4", "--log-every", "1", "--eval-every", "0", "--eval-windows", "4",
        "--validation-fraction", "0.1", "--seed", "5",
    ]

    /// `mpirun -np n protein-tool arguments` on loopback; one BLAS thread per rank, ranks not
    /// pinned (several jobs may share the machine), at most 5 minutes.
    static func mpirun(_ n: Int, _ arguments: [String]) throws -> CLIResult {
        try CLI.run(
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(n),
             CLI.executable.path] + arguments,
            environment: ["OPENBLAS_NUM_THREADS": "1"], timeout: 300)
    }

    /// `count` random proteins of exactly L − 2 residues, so each is one `<cls> … <sep>` window:
    /// rank r's B windows (proteins k ≡ r mod 2) and one process's 2B windows are the same set.
    static func writeFixedLengthCorpus(_ path: String, count: Int) throws {
        var state: UInt64 = 77
        let residues = Array("ACDEFGHIKLMNPQRSTVWY".utf8)
        var text = ""
        for i in 0..<count {
            text += ">Q\(String(format: "%05d", i))\n"
            var line: [UInt8] = []
            for _ in 0 ..< length - 2 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                line.append(residues[Int(state >> 33) % residues.count])
            }
            text += String(decoding: line, as: UTF8.self) + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func losses(_ directory: String) throws -> [Int: Double] {
        var result: [Int: Double] = [:]
        for line in try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            result[try #require(object["step"] as? Int)] = object["loss"] as? Double
        }
        return result
    }

    static func parameters(_ directory: String) throws -> [Float] {
        try ModelCheckpoint.load(path: directory + "/model.safetensors").model.parameters.values.array
    }

    @Test("2 ranks × batch 2 == 1 process × batch 4 on the same windows (up to float summation order)")
    func twoRanksEqualOneProcess() throws {
        let scratch = try Scratch("equal")
        defer { scratch.remove() }
        let corpus = scratch.file("fixed.fasta")
        try Self.writeFixedLengthCorpus(corpus, count: 200)
        let common = ["train", "--corpus", corpus, "--steps", "8", "--checkpoint-every", "0"] + Self.flags
        let single = try CLI.run(common + ["--out", scratch.file("single"), "--batch", "4"])
        #expect(single.status == 0, "\(single.stderr)")
        let ranks = try Self.mpirun(2, common + ["--out", scratch.file("ranks"), "--batch", "2", "--distributed"])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        // Rank 0 alone prints.
        #expect(ranks.stderr.components(separatedBy: "training causal").count == 2, "\(ranks.stderr)")
        #expect(ranks.stderr.contains("batch 2 per rank × 2 ranks"))

        let a = try Self.parameters(scratch.file("single")), b = try Self.parameters(scratch.file("ranks"))
        let configuration = try ModelCheckpoint.load(path: scratch.file("single/model.safetensors")).model.configuration
        let initial = PerformerLM(configuration: configuration, seed: 5).parameters.values.array
        #expect(a.count == b.count && a.count == initial.count)
        var maxDifference: Float = 0, differenceSquares = 0.0, updateSquares = 0.0
        for i in a.indices {
            maxDifference = max(maxDifference, abs(a[i] - b[i]))
            differenceSquares += Double(a[i] - b[i]) * Double(a[i] - b[i])
            updateSquares += Double(a[i] - initial[i]) * Double(a[i] - initial[i])
        }
        let relative = (differenceSquares / updateSquares).squareRoot()
        print("MPI: 2 ranks × 2 vs 1 × 4 windows, 8 steps: max |Δθ| = \(maxDifference), ‖Δθ‖ / ‖θ − θ₀‖ = \(relative)")
        #expect(maxDifference <= 1e-4)  // lr / 30; see docs/distributed.md
        #expect(relative <= 1e-4)

        let la = try Self.losses(scratch.file("single")), lb = try Self.losses(scratch.file("ranks"))
        #expect(la.keys.sorted() == Array(1...8) && lb.keys.sorted() == la.keys.sorted())
        for (step, loss) in la {
            let other = try #require(lb[step])
            #expect(abs(other - loss) <= 1e-4 * abs(loss), "step \(step): \(loss) vs \(other)")
        }
        let metrics = try String(contentsOfFile: scratch.file("ranks/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"allreduce_s\":"))
    }

    @Test("a rank that dies ends the job with a non-zero exit; the last checkpoint is intact and resumes exactly",
          arguments: [1, 0])
    func aDyingRankEndsTheJob(failRank: Int) throws {
        let scratch = try Scratch("dies")
        defer { scratch.remove() }
        let corpus = scratch.file("fixed.fasta")
        try Self.writeFixedLengthCorpus(corpus, count: 200)
        let common = ["train", "--corpus", corpus, "--steps", "8", "--checkpoint-every", "4", "--batch", "2",
                      "--distributed"] + Self.flags
        let straight = try Self.mpirun(2, common + ["--out", scratch.file("straight")])
        #expect(straight.status == 0, "\(straight.stderr)")

        let failed = try Self.mpirun(
            2, common + ["--out", scratch.file("failed"), "--fail-at-step", "6", "--fail-rank", String(failRank)])
        #expect(failed.status != 0 && failed.status != -1, "exit \(failed.status): \(failed.stderr)")
        #expect(failed.stderr.contains("rank \(failRank): --fail-at-step 6"), "\(failed.stderr)")
        print("mpirun exit status \(failed.status) when rank \(failRank) died; its report:\n\(failed.stderr.suffix(600))")
        let checkpoint = try ModelCheckpoint.load(path: scratch.file("failed/checkpoint.safetensors"))
        #expect(checkpoint.metadata["steps"] == "4")

        let resumed = try Self.mpirun(2, ["train", "--out", scratch.file("failed"), "--resume", "--distributed", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Self.parameters(scratch.file("failed")).map(\.bitPattern)
                == Self.parameters(scratch.file("straight")).map(\.bitPattern))
        #expect(try Self.losses(scratch.file("failed")) == Self.losses(scratch.file("straight")))
    }

    @Test("resuming with another number of ranks, or without MPI, is a one-line error")
    func resumeWithAnotherRankCount() throws {
        let scratch = try Scratch("mismatch")
        defer { scratch.remove() }
        let corpus = scratch.file("fixed.fasta")
        try Self.writeFixedLengthCorpus(corpus, count: 100)
        let out = scratch.file("run")
        let first = try Self.mpirun(2, ["train", "--corpus", corpus, "--steps", "2", "--batch", "2", "--out", out,
                                        "--distributed", "--quiet"] + Self.flags)
        #expect(first.status == 0, "\(first.stderr)")
        let three = try Self.mpirun(3, ["train", "--out", out, "--resume", "--steps", "4", "--distributed"])
        #expect(three.status != 0 && three.status != -1)
        #expect(three.stderr.components(separatedBy: "trained on 2 ranks").count == 2, "shown once: \(three.stderr)")
        let alone = try CLI.run(["train", "--out", out, "--resume", "--steps", "4"])
        #expect(alone.status != 0)
        #expect(alone.stderr.contains("trained on 2 ranks") && alone.stderr.contains("mpirun -np 2"), "\(alone.stderr)")
    }

    @Test("a non-finite loss stops every rank at the same step; the error is shown once")
    func nonFiniteLossStopsAllRanks() throws {
        let scratch = try Scratch("nan")
        defer { scratch.remove() }
        let corpus = scratch.file("fixed.fasta")
        try Self.writeFixedLengthCorpus(corpus, count: 50)
        let result = try Self.mpirun(2, ["train", "--corpus", corpus, "--steps", "10", "--batch", "2", "--out",
                                         scratch.file("run"), "--distributed", "--quiet"]
                                        + Self.flags + ["--lr", "1e30", "--clip", "0", "--warmup", "0"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "is not finite").count == 2, "\(result.stderr)")
    }

    @Test("mpirun without --distributed is refused before any work")
    func mpirunWithoutDistributed() throws {
        let scratch = try Scratch("plain")
        defer { scratch.remove() }
        let corpus = scratch.file("fixed.fasta")
        try Self.writeFixedLengthCorpus(corpus, count: 20)
        let result = try Self.mpirun(2, ["train", "--corpus", corpus, "--steps", "2", "--out", scratch.file("run")] + Self.flags)
        #expect(result.status != 0 && result.status != -1)
        #expect(result.stderr.contains("without --distributed"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("run/checkpoint.safetensors")))
    }
}

/// A fresh temporary directory.
struct Scratch {
    let path: String

    init(_ label: String) throws {
        path = NSTemporaryDirectory() + "pp-dist-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
