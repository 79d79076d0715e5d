extension Packer {
    /// Reads the next record from `reader` and, if `include` accepts it, packs it: the record is
    /// parsed and tokenised straight into the packer's buffer (`SequenceReader.nextTokens`), so
    /// a protein goes from input bytes to window tokens in one pass with no array of its own.
    /// The same windows, crops and state as `push(tokenizer.tokenize(record.residues, …))` for
    /// each included record of `next()`.
    ///
    /// ```swift
    /// let split = TrainValidationSplit(validationFraction: 0.01)
    /// while packer.availableWindows < batchSize,
    ///       try packer.push(nextRecordFrom: reader, tokenizer: tokenizer, where: { split.side(of: $0) == .train }) != nil {}
    /// ```
    ///
    /// - Parameters:
    ///   - include: decides from the record's `RecordInfo` (id key hash, length, …) whether it
    ///     is packed; a rejected record leaves the packer unchanged and is not counted in
    ///     `proteinsConsumed` (so resuming skips `proteinsConsumed` records of the *filtered*
    ///     stream, as `Packer.State` says).
    /// - Returns: the record and whether it was packed; nil at the end of the input.
    /// - Throws: the reader's and the tokenizer's errors; the packer is then unchanged.
    @discardableResult
    public mutating func push(
        nextRecordFrom reader: SequenceReader, tokenizer: Tokenizer,
        where include: (RecordInfo) throws -> Bool = { _ in true }
    ) throws -> (record: RecordInfo, packed: Bool)? {
        precondition(!isFinished, "push after finish()")
        // The record's size is unknown until it is read (the reader grows the buffer itself),
        // so slide out consumed tokens as soon as they are at least half the buffer — each
        // token is moved at most once per window it outlives — or when a window's worth might
        // not fit: the capacity then follows the live tokens, not the corpus.
        if readOffset > 0 && 2 * readOffset >= buffer.count {
            buffer.removeFirst(readOffset)
            readOffset = 0
        }
        reserve(configuration.windowLength + 2 + (configuration.layout == .padded ? configuration.windowLength : 0))
        let start = buffer.count
        buffer.append(Alphabet.cls)
        let record: RecordInfo
        do {
            guard let read = try reader.nextTokens(appendingTo: &buffer, tokenizer: tokenizer) else {
                buffer.removeLast()
                return nil
            }
            record = read
            guard try include(record) else {
                buffer.removeLast(record.counts.tokens + 1)
                return (record, false)
            }
        } catch {
            buffer.removeLast(buffer.count - start)
            throw error
        }
        proteinsConsumed += 1
        packLastUnit(start: start, count: record.counts.tokens)
        return (record, true)
    }
}
