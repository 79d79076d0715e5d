import Foundation
import ProteinIO

extension Trainer {
    /// What a training checkpoint stores besides the model (metadata key `run`, JSON).
    struct RunState: Codable {
        var step: Int
        var elapsedSeconds: Double
        var optimizerStep: Int
        var stream: BatchStream.State
        var corpus: [String]
        var validationStep: Int?
        var validationPerplexity: Double?

        enum CodingKeys: String, CodingKey {
            case step
            case elapsedSeconds = "elapsed_s"
            case optimizerStep = "optimizer_step"
            case stream, corpus
            case validationStep = "val_step"
            case validationPerplexity = "val_ppl"
        }
    }

    /// The metadata shared by both files: the training configuration and a short summary.
    func summaryMetadata() -> [String: String] {
        var metadata: [String: String] = [
            "training": ModelCheckpoint.jsonString(configuration),
            "objective": model.configuration.causal ? "causal" : "mlm",
            "steps": String(step),
        ]
        if let lastValidation {
            metadata["val_ppl"] = String(lastValidation.perplexity)
            metadata["val_step"] = String(lastValidation.step)
        }
        return metadata
    }

    /// Writes `checkpoint.safetensors` (model + optimizer + run state), then `model.safetensors`
    /// (model only), each atomically: a kill at any moment leaves a complete earlier file.
    public func saveCheckpoint() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var metadata = summaryMetadata()
        let run = RunState(
            step: step, elapsedSeconds: elapsed, optimizerStep: optimizer.stepCount, stream: stream.state,
            corpus: corpus, validationStep: lastValidation?.step, validationPerplexity: lastValidation?.perplexity)
        metadata["run"] = ModelCheckpoint.jsonString(run)
        var writer = ModelCheckpoint.writer(model: model, modelSeed: modelSeed, extraMetadata: metadata)
        optimizer.addState(to: &writer, prefix: "optimizer")
        try writer.write(to: checkpointPath)
        try ModelCheckpoint.save(model, modelSeed: modelSeed, to: modelPath, extraMetadata: summaryMetadata())
        lastCheckpoint = checkpointPath
    }

    /// Continues the run saved in `directory/checkpoint.safetensors`.
    ///
    /// - Parameters:
    ///   - corpus: the files to read; nil = the ones the run was started with. They must be the
    ///     same files in the same order for the stream position to mean anything (the count is
    ///     checked; the content is the user's responsibility).
    ///   - steps, timeLimit: new bounds (to extend a finished run); nil keeps the stored ones.
    /// - Throws: `CheckpointError` for an unreadable or mismatched file, `TrainingError.resumeMismatch`,
    ///   `ProteinIOError` when the stream cannot be positioned.
    public static func resume(
        directory: String, corpus: [String]? = nil, steps: Int? = nil, timeLimit: Double? = nil
    ) throws -> Trainer {
        let path = directory + "/checkpoint.safetensors"
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError.resumeMismatch("\(path) does not exist (nothing to resume)")
        }
        let loaded = try ModelCheckpoint.load(path: path)
        let reader = loaded.reader
        func fail(_ message: String) -> CheckpointError { CheckpointError(.mismatch, file: path, message: message) }
        let decoder = JSONDecoder()
        var training: TrainingConfiguration
        let run: RunState
        do {
            training = try decoder.decode(TrainingConfiguration.self, from: Data(try reader.metadataValue("training").utf8))
            run = try decoder.decode(RunState.self, from: Data(try reader.metadataValue("run").utf8))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail("not a training checkpoint (bad 'training' or 'run' metadata: \(error))")
        }
        if let steps { training.steps = steps }
        if let timeLimit { training.timeLimit = timeLimit }
        try training.validate()
        let files = corpus ?? run.corpus
        guard files.count == run.corpus.count else {
            throw TrainingError.resumeMismatch(
                "the run was started on \(run.corpus.count) corpus file(s), \(files.count) given")
        }
        let model = loaded.model
        let optimizer = AdamW(
            parameterCount: model.parameters.count, beta1: Float(training.beta1), beta2: Float(training.beta2),
            weightDecay: Float(training.weightDecay))
        try optimizer.restoreState(from: reader, prefix: "optimizer")
        let stream = try BatchStream(
            resuming: run.stream, files: files, split: training.split, side: .train,
            labeling: Trainer.labeling(model.configuration), batchSize: training.batch, cycles: true, stateFile: path)
        let trainer = Trainer(
            model: model, modelSeed: loaded.modelSeed, training: training, corpus: files, directory: directory,
            optimizer: optimizer, stream: stream, step: run.step, elapsed: run.elapsedSeconds)
        if let s = run.validationStep, let p = run.validationPerplexity { trainer.lastValidation = (s, p) }
        trainer.lastCheckpoint = path
        return trainer
    }
}
