import ProteinIO

extension MarkovModel {
    /// Fits on the records of `reader` that lie on `side` of `split` (all records when `split`
    /// is nil), one record at a time: memory does not grow with the corpus.
    ///
    /// - Returns: the number of records used.
    /// - Throws: the reader's `ProteinIOError`s; the tokenizer's for `unknown: .reject`.
    @discardableResult
    public mutating func fit(reader: SequenceReader, split: TrainValidationSplit? = nil,
                             side: TrainValidationSplit.Side = .train, tokenizer: Tokenizer = Tokenizer()) throws -> Int {
        var used = 0
        var tokens: [TokenID] = []
        while let record = try reader.next() {
            if let split, split.side(of: record.id) != side { continue }
            tokens.removeAll(keepingCapacity: true)
            _ = try record.residues.withUnsafeBufferPointer { (residues) throws(ProteinIOError) -> Tokenizer.Counts in
                try tokenizer.tokenize(residues, appendingTo: &tokens, id: record.id, file: reader.name)
            }
            tokens.withUnsafeBufferPointer { fit(tokens: $0) }
            used += 1
        }
        return used
    }

    /// Scores the records of `reader` that lie on `side` of `split` (all when nil).
    /// - Throws: as `fit(reader:split:side:tokenizer:)`.
    public func evaluate(reader: SequenceReader, split: TrainValidationSplit? = nil,
                         side: TrainValidationSplit.Side = .validation, tokenizer: Tokenizer = Tokenizer()) throws -> Evaluation {
        var evaluation = Evaluation()
        var tokens: [TokenID] = []
        while let record = try reader.next() {
            if let split, split.side(of: record.id) != side { continue }
            tokens.removeAll(keepingCapacity: true)
            _ = try record.residues.withUnsafeBufferPointer { (residues) throws(ProteinIOError) -> Tokenizer.Counts in
                try tokenizer.tokenize(residues, appendingTo: &tokens, id: record.id, file: reader.name)
            }
            tokens.withUnsafeBufferPointer { evaluate(tokens: $0, into: &evaluation) }
        }
        return evaluation
    }

    /// Held-out perplexity of several orders on one corpus: one streaming pass fits every
    /// order on the train side of `split`, a second pass scores the validation side.
    ///
    /// ```swift
    /// let results = try MarkovModel.heldOut(path: "DB.fasta.gz", orders: [0, 1, 2],
    ///                                       split: TrainValidationSplit(validationFraction: 0.05, seed: 0))
    /// for (model, evaluation) in results { print(model.order, evaluation.perplexity) }
    /// ```
    ///
    /// - Throws: `ProteinIOError` from opening or reading `path`.
    public static func heldOut(path: String, orders: [Int], alpha: Double = 1,
                               split: TrainValidationSplit) throws -> [(model: MarkovModel, evaluation: Evaluation)] {
        var models = orders.map { MarkovModel(order: $0, alpha: alpha) }
        let tokenizer = Tokenizer()
        var tokens: [TokenID] = []
        let train = try SequenceReader(path: path, integrity: .lenient)
        while let record = try train.next() {
            guard split.side(of: record.id) == .train else { continue }
            tokens.removeAll(keepingCapacity: true)
            _ = try record.residues.withUnsafeBufferPointer { (residues) throws(ProteinIOError) -> Tokenizer.Counts in
                try tokenizer.tokenize(residues, appendingTo: &tokens, id: record.id, file: train.name)
            }
            tokens.withUnsafeBufferPointer { buffer in
                for i in models.indices { models[i].fit(tokens: buffer) }
            }
        }
        var evaluations = [Evaluation](repeating: Evaluation(), count: models.count)
        let validation = try SequenceReader(path: path, integrity: .lenient)
        while let record = try validation.next() {
            guard split.side(of: record.id) == .validation else { continue }
            tokens.removeAll(keepingCapacity: true)
            _ = try record.residues.withUnsafeBufferPointer { (residues) throws(ProteinIOError) -> Tokenizer.Counts in
                try tokenizer.tokenize(residues, appendingTo: &tokens, id: record.id, file: validation.name)
            }
            tokens.withUnsafeBufferPointer { buffer in
                for i in models.indices { models[i].evaluate(tokens: buffer, into: &evaluations[i]) }
            }
        }
        return Array(zip(models, evaluations)).map { (model: $0.0, evaluation: $0.1) }
    }
}
