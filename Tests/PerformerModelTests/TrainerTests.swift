import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// The training loop end to end on a tiny model and the bundled-style fixture corpus.
@Suite("Trainer: loop, checkpoints, resume, NaN guard")
struct TrainerTests {
    static var corpus: [String] {
        // The ProteinIO fixture (300 UniProt proteins), read through the source tree.
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return [here.appendingPathComponent("ProteinIOTests/Fixtures/mmseqs_db_300.fasta.gz").path]
    }

    static func model(_ attention: AttentionKind = .favorRelu, causal: Bool = false) -> PerformerConfiguration {
        PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 8, attention: attention, causal: causal)
    }

    static func training(steps: Int) -> TrainingConfiguration {
        TrainingConfiguration(
            seqLen: 48, batch: 2, steps: steps, seed: 5, learningRate: 3e-3, warmupSteps: 3, redrawEvery: 4,
            logEvery: 2, evalEvery: 6, evalWindows: 4, checkpointEvery: 0,
            split: TrainValidationSplit(validationFraction: 0.1))
    }

    static func temporaryDirectory(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "trainer-tests-\(getpid())-\(name)"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    /// Loss values of metrics.jsonl by step.
    static func losses(_ directory: String) throws -> [Int: Double] {
        let text = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8)
        var result: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            result[try #require(object["step"] as? Int)] = object["loss"] as? Double
        }
        return result
    }

    @Test("resume: N steps, checkpoint, reload, N more == 2N uninterrupted, bit for bit",
          arguments: [(AttentionKind.favorRelu, false), (.favorSoftmax, true), (.exact, false)])
    func resumeIsExact(attention: AttentionKind, causal: Bool) throws {
        let straight = Self.temporaryDirectory("straight-\(attention.rawValue)-\(causal)")
        let paused = Self.temporaryDirectory("paused-\(attention.rawValue)-\(causal)")
        defer {
            try? FileManager.default.removeItem(atPath: straight)
            try? FileManager.default.removeItem(atPath: paused)
        }
        let a = try Trainer(model: Self.model(attention, causal: causal), modelSeed: 9, training: Self.training(steps: 12),
                            corpus: Self.corpus, directory: straight)
        try a.run()

        let first = try Trainer(model: Self.model(attention, causal: causal), modelSeed: 9, training: Self.training(steps: 12),
                                corpus: Self.corpus, directory: paused)
        try first.run(pauseAt: 6)
        #expect(first.step == 6)
        let second = try Trainer.resume(directory: paused)
        #expect(second.step == 6)
        try second.run()
        #expect(second.step == 12)

        let p = a.model.parameters, q = second.model.parameters
        var differing = 0
        for i in 0..<p.count where p.values.data[i].bitPattern != q.values.data[i].bitPattern { differing += 1 }
        #expect(differing == 0, "\(differing) of \(p.count) parameters differ")
        for (x, y) in zip(a.model.randomFeatures, second.model.randomFeatures) {
            #expect(x.weights.array == y.weights.array)
        }
        #expect(a.optimizer.m.array == second.optimizer.m.array && a.optimizer.v.array == second.optimizer.v.array)
        // The same losses at every logged step (the log restarts at step 6 in the resumed run).
        let la = try Self.losses(straight), lb = try Self.losses(paused)
        #expect(la.keys.sorted() == Array(stride(from: 2, through: 12, by: 2)))
        #expect(la == lb)
        #expect(a.lastValidation?.perplexity == second.lastValidation?.perplexity)
    }

    @Test("a few dozen steps lower the loss and the validation perplexity of a tiny model")
    func trainingLearns() throws {
        let directory = Self.temporaryDirectory("learns")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var training = Self.training(steps: 60)
        training.evalEvery = 0
        training.evalWindows = 8
        training.logEvery = 10
        let trainer = try Trainer(model: Self.model(), modelSeed: 1, training: training, corpus: Self.corpus, directory: directory)
        let before = try trainer.validate().perplexity
        try trainer.run()
        let after = try #require(trainer.lastValidation?.perplexity)
        let losses = try Self.losses(directory)
        print("tiny model: validation perplexity \(before) → \(after); losses \(losses.sorted { $0.key < $1.key }.map(\.value))")
        #expect(after < before * 0.9)
        let last = try #require(losses[60]), first = try #require(losses[10])
        #expect(last < first)
    }

    @Test("a NaN loss stops the run before the update and leaves the last checkpoint intact")
    func nonFiniteLossStops() throws {
        let directory = Self.temporaryDirectory("nan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trainer = try Trainer(model: Self.model(), modelSeed: 2, training: Self.training(steps: 12),
                                  corpus: Self.corpus, directory: directory)
        try trainer.run(pauseAt: 4)
        let before = try Data(contentsOf: URL(fileURLWithPath: trainer.checkpointPath))
        trainer.model.parameters.pointer("final_norm.weight")[0] = .nan
        let values = trainer.model.parameters.values.array
        do {
            try trainer.run()
            Issue.record("expected a non-finite error")
        } catch let error as TrainingError {
            guard case .nonFinite(let step, _, let last) = error else { Issue.record("wrong error \(error)"); return }
            #expect(step == 5 && last == trainer.checkpointPath)
            #expect(!error.description.contains("\n"))
        }
        let parameters = trainer.model.parameters.values.array
        #expect(zip(values, parameters).allSatisfy { $0.bitPattern == $1.bitPattern }, "no update was applied")
        #expect(try Data(contentsOf: URL(fileURLWithPath: trainer.checkpointPath)) == before)
        // The checkpoint still loads and resumes at step 4.
        #expect(try Trainer.resume(directory: directory).step == 4)
    }

    @Test("model.safetensors round-trips the model; a wrong or damaged file is a one-line error")
    func modelFileRoundTrip() throws {
        let directory = Self.temporaryDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trainer = try Trainer(model: Self.model(.favorSoftmax), modelSeed: 3, training: Self.training(steps: 2),
                                  corpus: Self.corpus, directory: directory)
        try trainer.run()
        let loaded = try ModelCheckpoint.load(path: trainer.modelPath)
        #expect(loaded.model.configuration == trainer.model.configuration)
        #expect(loaded.model.parameters.values.array == trainer.model.parameters.values.array)
        #expect(loaded.model.randomFeatures.map(\.weights.array) == trainer.model.randomFeatures.map(\.weights.array))
        #expect(loaded.metadata["objective"] == "mlm")

        // Truncated file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: trainer.modelPath))
        let truncated = directory + "/truncated.safetensors"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: CheckpointError.self) { _ = try ModelCheckpoint.load(path: truncated) }
        // A safetensors file that is not a model.
        var writer = SafeTensorsWriter(metadata: ["format": "something-else"])
        writer.add(name: "x", shape: [2], values: [1, 2] as [Float])
        let foreign = directory + "/foreign.safetensors"
        try writer.write(to: foreign)
        do {
            _ = try ModelCheckpoint.load(path: foreign)
            Issue.record("expected an error")
        } catch let error as CheckpointError {
            #expect(error.description.contains("not a protein-performer model"))
            #expect(!error.description.contains("\n"))
        }
    }
}
