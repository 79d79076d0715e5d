/// The training and evaluation data path in one object: files → records → one side of the
/// train/validation split → tokens → `Packer` windows → labelled `Batch`es.
///
///     files ─► SequenceReader ─► split.side(of: id) == side ─► Tokenizer ─► Packer ─► Masker / CausalTargets ─► Batch
///
/// Streaming: one file is open at a time, and memory is bounded by the packer's buffer
/// (batch × L tokens plus one protein), never by the corpus.
///
/// Epochs: with `cycles == true` (training) the files are read in the order given, then again
/// from the first, forever; the packer's stream continues across the epoch boundary (its last
/// partial window is completed by the next epoch's first proteins), the crop generator and the
/// masker's generator continue too, so every epoch sees new masks. With `cycles == false`
/// (evaluation) the stream ends after one pass: the last partial window is padded and the last
/// batch may hold fewer real rows (`Batch.windows`).
///
/// Shards (data-parallel training): with `shard = Shard(index: r, count: N)` the stream yields
/// only the proteins of `side` whose position k in the pass (0, 1, 2, … counted over the side's
/// proteins in file order, from the first file, restarting at 0 every epoch) has k mod N = r.
/// The N shards of a corpus are disjoint and together cover the side, every epoch alike; each
/// rank of a distributed run streams one, reading (parsing) the whole corpus but tokenising and
/// packing only its own proteins. A sharded stream (N > 1) seeds its crop and mask generators
/// with `Shard.seed(seed)`, so ranks do not draw the same masks in lock step; `Shard.whole`
/// (the default) uses `seed` itself, as before.
///
/// Resume: `state` records the epoch, the file, the number of records already read from it
/// (on either side of the split), the shard and the side's proteins seen this epoch, the
/// packer's state and the masker's generator.
/// `BatchStream(resuming:)` reopens that file, skips the records already read (parsing them,
/// which costs one partial re-read of one file) and continues with the same batches, bit for bit,
/// as an uninterrupted stream.
public final class BatchStream {
    /// How targets are made from packed windows.
    public enum Labeling: Sendable, Equatable, Codable {
        /// BERT masking (`Masker`), for a bidirectional masked-LM.
        case masked(Masker.Configuration)
        /// Next-token targets (`CausalTargets`), for a causal LM.
        case causal
    }

    /// Where the stream is, enough to continue exactly. Stored in checkpoints (snake_case keys).
    public struct State: Sendable, Equatable, Codable {
        /// Completed passes over the files.
        public var epoch: Int
        /// The part of the side this stream yields (`Shard.whole` unless data-parallel).
        public var shard: Shard
        /// Proteins of the side met in this epoch, on every shard (the next one's k).
        public var sideProteinsInEpoch: Int
        /// Index into `files` of the file being read.
        public var fileIndex: Int
        /// Records already read from that file (both sides of the split).
        public var recordsInFile: Int
        /// Training proteins pushed into the packer since the start (all epochs).
        public var proteins: Int
        public var packer: Packer.State
        /// The masker's generator (four words); empty for causal labelling.
        public var maskerState: [UInt64]

        public init(
            epoch: Int, shard: Shard = .whole, sideProteinsInEpoch: Int = 0, fileIndex: Int, recordsInFile: Int,
            proteins: Int, packer: Packer.State, maskerState: [UInt64]
        ) {
            self.epoch = epoch
            self.shard = shard
            self.sideProteinsInEpoch = sideProteinsInEpoch
            self.fileIndex = fileIndex
            self.recordsInFile = recordsInFile
            self.proteins = proteins
            self.packer = packer
            self.maskerState = maskerState
        }

        enum CodingKeys: String, CodingKey {
            case epoch
            case shard
            case sideProteinsInEpoch = "side_proteins_in_epoch"
            case fileIndex = "file_index"
            case recordsInFile = "records_in_file"
            case proteins
            case packer
            case maskerState = "masker_state"
        }

        /// Decodes a state; one written before shards existed is `Shard.whole`.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            epoch = try c.decode(Int.self, forKey: .epoch)
            shard = try c.decodeIfPresent(Shard.self, forKey: .shard) ?? .whole
            sideProteinsInEpoch = try c.decodeIfPresent(Int.self, forKey: .sideProteinsInEpoch) ?? 0
            fileIndex = try c.decode(Int.self, forKey: .fileIndex)
            recordsInFile = try c.decode(Int.self, forKey: .recordsInFile)
            proteins = try c.decode(Int.self, forKey: .proteins)
            packer = try c.decode(Packer.State.self, forKey: .packer)
            maskerState = try c.decode([UInt64].self, forKey: .maskerState)
        }
    }

    /// One of `count` disjoint parts of a side: the proteins at positions k with k mod count =
    /// index (see the type's description).
    public struct Shard: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            precondition(count >= 1 && (0..<count).contains(index), "shard \(index) of \(count) does not exist")
            self.index = index
            self.count = count
        }

        /// The whole side (one shard).
        public static let whole = Shard(index: 0, count: 1)

        /// Whether the protein at position `k` of the pass belongs to this shard.
        @inlinable public func contains(_ k: Int) -> Bool { k % count == index }

        /// The generator seed of this shard's stream: `seed` for the whole side, else a
        /// SplitMix64 mix of (seed, index, count), different for every shard.
        public func seed(_ seed: UInt64) -> UInt64 {
            guard count > 1 else { return seed }
            return SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(index) &+ SplitMix64.increment &* UInt64(count)))
        }

        public var description: String { "shard \(index) of \(count)" }

        enum CodingKeys: String, CodingKey { case index, count }

        /// Decodes and checks 0 ≤ index < count (a stored shard is input data).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let index = try c.decode(Int.self, forKey: .index), count = try c.decode(Int.self, forKey: .count)
            guard count >= 1 && (0..<count).contains(index) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .index, in: c, debugDescription: "shard \(index) of \(count) does not exist")
            }
            self.init(index: index, count: count)
        }
    }

    public let files: [String]
    public let split: TrainValidationSplit
    public let side: TrainValidationSplit.Side
    public let labeling: Labeling
    public let batchSize: Int
    public let cycles: Bool
    public let tokenizer: Tokenizer
    public let shard: Shard

    private var packer: Packer
    private var masker: Masker?
    private var reader: SequenceReader?
    private var epoch = 0
    private var fileIndex = 0
    private var recordsInFile = 0
    private var proteins = 0
    /// Proteins of `side` met in this epoch, on every shard (the k of the next one).
    private var sideProteinsInEpoch = 0
    /// Proteins of this shard found in the current epoch (an epoch without any is an error when cycling).
    private var proteinsThisEpoch = 0
    /// The current record's residue bytes, reused from record to record.
    private var residues: [UInt8] = []

    /// A stream from the start of `files`.
    ///
    /// - Parameters:
    ///   - files: paths (`-` for standard input, which cannot cycle or resume).
    ///   - split, side: which proteins this stream yields.
    ///   - packing: window length L, layout, crop; `finalWindow` is used when `cycles` is false.
    ///   - labeling: masked-LM or causal targets.
    ///   - batchSize: windows per batch.
    ///   - seed: seeds the packer's crop generator and the masker (they get different streams).
    ///   - cycles: read the files again after the last one (training) or end (evaluation).
    ///   - shard: the part of the side to yield (data-parallel ranks); the whole side by default.
    public init(
        files: [String], split: TrainValidationSplit, side: TrainValidationSplit.Side,
        packing: PackerConfiguration, labeling: Labeling, batchSize: Int, seed: UInt64,
        cycles: Bool, tokenizer: Tokenizer = Tokenizer(), shard: Shard = .whole
    ) {
        precondition(!files.isEmpty, "a batch stream needs at least one file")
        precondition(batchSize > 0, "batch size must be positive")
        self.files = files
        self.split = split
        self.side = side
        self.labeling = labeling
        self.batchSize = batchSize
        self.cycles = cycles
        self.tokenizer = tokenizer
        self.shard = shard
        let seed = shard.seed(seed)
        packer = Packer(configuration: packing, seed: seed)
        if case .masked(let configuration) = labeling {
            masker = Masker(configuration: configuration, seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        }
    }

    /// A stream that continues from `state` (see the type's description).
    ///
    /// - Throws: `ProteinIOError` when the state is invalid or does not fit `files`, or when
    ///   the file it points into has fewer records than it says were read.
    public convenience init(
        resuming state: State, files: [String], split: TrainValidationSplit, side: TrainValidationSplit.Side,
        labeling: Labeling, batchSize: Int, cycles: Bool, tokenizer: Tokenizer = Tokenizer(), stateFile: String
    ) throws {
        self.init(
            files: files, split: split, side: side, packing: state.packer.configuration, labeling: labeling,
            batchSize: batchSize, seed: 0, cycles: cycles, tokenizer: tokenizer, shard: state.shard)
        func bad(_ message: String) -> ProteinIOError {
            ProteinIOError(.integrity, file: stateFile, message: "invalid data-stream state: " + message)
        }
        guard state.fileIndex >= 0 && state.fileIndex < files.count else {
            throw bad("file index \(state.fileIndex), but the run has \(files.count) corpus file(s)")
        }
        guard state.epoch >= 0, state.recordsInFile >= 0, state.proteins >= 0, state.sideProteinsInEpoch >= 0 else {
            throw bad("negative counter")
        }
        packer = try Packer(state: state.packer, file: stateFile)
        if masker != nil {
            let g = state.maskerState
            guard g.count == 4, g.contains(where: { $0 != 0 }) else {
                throw bad("masker generator has \(g.count) words or is all zero")
            }
            masker?.generator = SeededGenerator(state: (g[0], g[1], g[2], g[3]))
        }
        epoch = state.epoch
        fileIndex = state.fileIndex
        proteins = state.proteins
        sideProteinsInEpoch = state.sideProteinsInEpoch
        proteinsThisEpoch = 1  // the saved run had found proteins, or it could not have saved
        if state.recordsInFile > 0 {
            let reader = try SequenceReader(path: files[fileIndex])
            for _ in 0..<state.recordsInFile {
                guard try reader.nextResidues(into: &residues) != nil else {
                    throw bad("\(files[fileIndex]) has only \(reader.recordsRead) records, the state says \(state.recordsInFile) were read")
                }
            }
            self.reader = reader
            recordsInFile = state.recordsInFile
        }
    }

    /// A snapshot to continue from (see `init(resuming:…)`).
    public var state: State {
        var maskerState: [UInt64] = []
        if let g = masker?.generator.state { maskerState = [g.0, g.1, g.2, g.3] }
        return State(
            epoch: epoch, shard: shard, sideProteinsInEpoch: sideProteinsInEpoch, fileIndex: fileIndex, recordsInFile: recordsInFile, proteins: proteins,
            packer: packer.state, maskerState: maskerState)
    }

    /// Completed passes over the files so far.
    public var epochsCompleted: Int { epoch }

    /// Fills `batch` (shape [batchSize, L]) with the next labelled batch and returns true, or
    /// returns false at the end of a non-cycling stream.
    ///
    /// - Throws: reader and tokenizer errors (`ProteinIOError`, naming file, line and record);
    ///   `.malformed` when a whole pass over the files found no protein on this side of the split.
    public func next(into batch: inout Batch) throws -> Bool {
        precondition(batch.batch == batchSize && batch.length == packer.windowLength, "batch shape does not match the stream")
        while !packer.nextBatch(into: &batch) {
            if packer.isFinished { return false }
            try pushNextProtein()
        }
        switch labeling {
        case .masked: masker?.apply(to: &batch)
        case .causal: CausalTargets.apply(to: &batch)
        }
        return true
    }

    /// The next labelled batch, or nil at the end of a non-cycling stream.
    public func next() throws -> Batch? {
        var batch = Batch(batch: batchSize, length: packer.windowLength)
        return try next(into: &batch) ? batch : nil
    }

    /// Reads records until one of `side` is pushed, or the stream ends.
    private func pushNextProtein() throws {
        while true {
            if reader == nil {
                reader = try SequenceReader(path: files[fileIndex])
                recordsInFile = 0
            }
            // The fused reader: residues into a reused array, the split from the id's key hash,
            // and no String unless the tokenizer reports an error.
            guard let reader, let record = try reader.nextResidues(into: &residues) else {
                reader = nil
                fileIndex += 1
                if fileIndex == files.count {
                    fileIndex = 0
                    if !cycles {
                        packer.finish()
                        return
                    }
                    if proteinsThisEpoch == 0 {
                        let whose = shard.count > 1
                            ? " for \(shard) (the side has \(sideProteinsInEpoch) proteins; use fewer ranks)" : ""
                        throw ProteinIOError(
                            .malformed, file: files.joined(separator: ", "),
                            message: "no \(side.rawValue) proteins in the corpus\(whose) (validation fraction \(split.validationFraction))")
                    }
                    epoch += 1
                    proteinsThisEpoch = 0
                    sideProteinsInEpoch = 0
                }
                continue
            }
            recordsInFile += 1
            guard split.side(of: record) == side else { continue }
            let k = sideProteinsInEpoch
            sideProteinsInEpoch += 1
            guard shard.contains(k) else { continue }
            proteins += 1
            proteinsThisEpoch += 1
            try residues.withUnsafeBufferPointer { bytes in
                _ = try packer.push(residues: bytes, tokenizer: tokenizer, id: reader.recordID, file: files[fileIndex])
            }
            return
        }
    }
}

extension BatchStream.Labeling {
    enum CodingKeys: String, CodingKey { case kind, masking }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .kind) {
        case "masked": self = .masked(try c.decode(Masker.Configuration.self, forKey: .masking))
        case "causal": self = .causal
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "unknown labeling \(other)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .masked(let configuration):
            try c.encode("masked", forKey: .kind)
            try c.encode(configuration, forKey: .masking)
        case .causal:
            try c.encode("causal", forKey: .kind)
        }
    }
}
