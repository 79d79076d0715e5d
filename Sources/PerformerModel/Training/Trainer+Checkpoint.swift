import Foundation
import ProteinIO

extension Trainer {
    /// What a training checkpoint stores besides the model (metadata key `run`, JSON).
    struct RunState: Codable {
        var step: Int
        var elapsedSeconds: Double
        var optimizerStep: Int
        /// The data stream of rank 0 (the only one of a single-process run).
        var stream: BatchStream.State
        var corpus: [String]
        var validationStep: Int?
        var validationPerplexity: Double?
        /// Ranks of a data-parallel run; nil (absent) for one process.
        var ranks: Int?
        /// Every rank's data stream, by rank (data-parallel runs only).
        var rankStreams: [BatchStream.State]?

        enum CodingKeys: String, CodingKey {
            case step
            case elapsedSeconds = "elapsed_s"
            case optimizerStep = "optimizer_step"
            case stream, corpus
            case validationStep = "val_step"
            case validationPerplexity = "val_ppl"
            case ranks
            case rankStreams = "rank_streams"
        }
    }

    /// What each rank sends to rank 0 when a checkpoint is written.
    struct RankReport: Codable {
        var step: Int
        var parameters: UInt64
        var stream: BatchStream.State
    }

    /// A 64-bit FNV-1a-style hash of the parameters' bit patterns: ranks that hold the same
    /// parameters have the same fingerprint.
    func parameterFingerprint() -> UInt64 {
        let values = model.parameters.values.data
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<model.parameters.count { h = (h ^ UInt64(values[i].bitPattern)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Every rank's `RankReport`, by rank, on every rank; throws unless all ranks are at the
    /// same step with the same parameters (a rank that resumed from another checkpoint file, or
    /// an engine whose sums differ between ranks). Collective: every rank must call it.
    ///
    /// - Throws: `TrainingError.distributed`.
    func gatherRankReports(_ when: String) throws -> [RankReport] {
        let mine = RankReport(step: step, parameters: parameterFingerprint(), stream: stream.state)
        let gathered = reducer.allGather(Array(ModelCheckpoint.jsonString(mine).utf8))
        var reports: [RankReport] = []
        for (rank, bytes) in gathered.enumerated() {
            guard let report = try? JSONDecoder().decode(RankReport.self, from: Data(bytes)) else {
                throw TrainingError.distributed("\(when): rank \(rank) sent an unreadable state")
            }
            reports.append(report)
        }
        for (rank, report) in reports.enumerated() where report.step != reports[0].step {
            throw TrainingError.distributed(
                "\(when): rank \(rank) is at step \(report.step), rank 0 at step \(reports[0].step) "
                    + "(every rank must resume from the same checkpoint: give all of them the same --out on a shared file system)")
        }
        for (rank, report) in reports.enumerated() where report.parameters != reports[0].parameters {
            throw TrainingError.distributed(
                "\(when): the parameters of rank \(rank) differ from rank 0's at step \(step) "
                    + "(a different checkpoint file, or an all-reduce that does not give every rank the same sums)")
        }
        return reports
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
    ///
    /// Distributed: collective. Every rank sends its stream state and a fingerprint of its
    /// parameters (checked to be rank 0's); rank 0 alone writes, with every rank's stream.
    public func saveCheckpoint() throws {
        var run = RunState(
            step: step, elapsedSeconds: elapsed, optimizerStep: optimizer.stepCount, stream: stream.state,
            corpus: corpus, validationStep: lastValidation?.step, validationPerplexity: lastValidation?.perplexity)
        if reducer.isDistributed {
            let reports = try gatherRankReports("checkpoint at step \(step)")
            run.ranks = reducer.size
            run.rankStreams = reports.map(\.stream)
            guard reducer.rank == 0 else {
                lastCheckpoint = checkpointPath
                return
            }
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var metadata = summaryMetadata()
        metadata["run"] = ModelCheckpoint.jsonString(run)
        var writer = ModelCheckpoint.writer(model: model, modelSeed: modelSeed, extraMetadata: metadata)
        optimizer.addState(to: &writer, prefix: "optimizer")
        try writer.write(to: checkpointPath)
        try ModelCheckpoint.save(model, modelSeed: modelSeed, to: modelPath, extraMetadata: summaryMetadata())
        lastCheckpoint = checkpointPath
    }

    /// Continues the run saved in `directory/checkpoint.safetensors`. A data-parallel run must be
    /// resumed with the same number of ranks (each continues its own stream); every rank reads
    /// the checkpoint itself, and `run()` checks that they all read the same one.
    ///
    /// - Parameters:
    ///   - corpus: the files to read; nil = the ones the run was started with. They must be the
    ///     same files in the same order for the stream position to mean anything (the count is
    ///     checked; the content is the user's responsibility).
    ///   - steps, timeLimit: new bounds (to extend a finished run); nil keeps the stored ones.
    ///   - reducer: this rank of a data-parallel run (`reducer.size` must equal the stored count).
    ///   - workers: batch workers for this session (`TrainingConfiguration.workers`, not stored).
    /// - Throws: `CheckpointError` for an unreadable or mismatched file, `TrainingError.resumeMismatch`
    ///   (also for a different number of ranks), `ProteinIOError` when the stream cannot be positioned.
    public static func resume(
        directory: String, corpus: [String]? = nil, steps: Int? = nil, timeLimit: Double? = nil,
        reducer: any GradientReducer = SingleProcessReducer(), workers: Int? = nil
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
        training.workers = workers
        try training.validate()
        let files = corpus ?? run.corpus
        guard files.count == run.corpus.count else {
            throw TrainingError.resumeMismatch(
                "the run was started on \(run.corpus.count) corpus file(s), \(files.count) given")
        }
        let ranks = run.ranks ?? 1
        guard ranks == reducer.size else {
            if ranks == 1 {
                throw TrainingError.resumeMismatch(
                    "the run in \(directory) was trained in one process, so its data stream cannot be split among "
                        + "\(reducer.size) ranks: resume it without mpirun and --distributed")
            }
            throw TrainingError.resumeMismatch(
                "the run in \(directory) was trained on \(ranks) ranks, each with its own data shard: resume it with "
                    + "mpirun -np \(ranks) … --distributed, not with \(reducer.size) process(es)")
        }
        let streamState: BatchStream.State
        if ranks == 1 {
            streamState = run.stream
        } else {
            guard let streams = run.rankStreams, streams.count == ranks else {
                throw fail("'run' says \(ranks) ranks but holds \(run.rankStreams?.count ?? 0) rank streams")
            }
            streamState = streams[reducer.rank]
        }
        let shard = BatchStream.Shard(index: reducer.rank, count: reducer.size)
        guard streamState.shard == shard else {
            throw fail("the stream stored for rank \(reducer.rank) is \(streamState.shard), expected \(shard)")
        }
        let model = loaded.model
        let optimizer = AdamW(
            parameterCount: model.parameters.count, beta1: Float(training.beta1), beta2: Float(training.beta2),
            weightDecay: Float(training.weightDecay))
        try optimizer.restoreState(from: reader, prefix: "optimizer")
        let stream = try BatchStream(
            resuming: streamState, files: files, split: training.split, side: .train,
            labeling: Trainer.labeling(model.configuration), batchSize: training.batch, cycles: true, stateFile: path)
        let trainer = Trainer(
            model: model, modelSeed: loaded.modelSeed, training: training, corpus: files, directory: directory,
            optimizer: optimizer, stream: stream, step: run.step, elapsed: run.elapsedSeconds, reducer: reducer)
        if let s = run.validationStep, let p = run.validationPerplexity { trainer.lastValidation = (s, p) }
        trainer.lastCheckpoint = path
        return trainer
    }
}
