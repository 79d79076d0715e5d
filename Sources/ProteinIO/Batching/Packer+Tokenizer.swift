extension Packer {
    /// Tokenises one protein's residue bytes straight into the packer's buffer and packs it:
    /// the same windows as `push(tokenizer.tokenize(residues))`, without the intermediate
    /// array (in the common case — `.concatenate`, no crop — each byte is read once and its id
    /// written once).
    ///
    /// - Parameters:
    ///   - residues: the record's residue bytes as read (ASCII, any case, no line breaks).
    ///   - id, file: for error messages.
    /// - Returns: what the tokenizer produced (before cropping).
    /// - Throws: the tokenizer's `ProteinIOError` (strict mode); the packer is then unchanged
    ///   and the protein is not counted as consumed.
    @discardableResult
    public mutating func push(
        residues: UnsafeBufferPointer<UInt8>, tokenizer: Tokenizer, id: @autoclosure () -> String, file: String
    ) throws(ProteinIOError) -> Tokenizer.Counts {
        precondition(!isFinished, "push after finish()")
        let n = residues.count
        let length = configuration.windowLength
        reserve(n + 2 + (configuration.layout == .padded ? length : 0))
        let start = buffer.count
        buffer.append(Alphabet.cls)
        // Grow by n with one memcpy (TokenID is UInt8, so the residue bytes serve as filler);
        // the tokenizer overwrites them. (Appending `repeatElement` goes element by element.)
        buffer.append(contentsOf: residues)
        let counts: Tokenizer.Counts
        do {
            counts = try buffer.withUnsafeMutableBufferPointer { (all) throws(ProteinIOError) -> Tokenizer.Counts in
                try tokenizer.tokenize(residues, into: UnsafeMutableBufferPointer(rebasing: all[(start + 1)...]), id: id(), file: file)
            }
        } catch {
            buffer.removeLast(n + 1)
            throw error
        }
        proteinsConsumed += 1
        buffer.removeLast(n - counts.tokens)
        packLastUnit(start: start, count: counts.tokens)
        return counts
    }

    /// Turns `<cls>` at `buffer[start]` followed by `count` residue ids (the end of the buffer)
    /// into a packed unit, as `push(_:)` would have: removed if empty, cropped, moved to the
    /// next window (padded layout), and closed with `<sep>`.
    mutating func packLastUnit(start: Int, count residueCount: Int) {
        let length = configuration.windowLength
        var count = residueCount
        guard count > 0 else {
            buffer.removeLast()  // the <cls> of an empty protein
            return
        }
        // Crop: keep a random segment of `limit` residues, moved to just after <cls>.
        let limit = configuration.residueLimit
        if count > limit {
            let offset = generator.nextInt(below: count - limit + 1)
            if offset > 0 {
                buffer.withUnsafeMutableBufferPointer { all in
                    let base = all.baseAddress.unsafelyUnwrapped + start + 1
                    UnsafeMutableRawPointer(base).copyMemory(from: base + offset, byteCount: limit)  // memmove
                }
            }
            buffer.removeLast(count - limit)
            residuesCropped += count - limit
            count = limit
        }
        // Padded layout: a unit that does not fit in the current window starts the next one.
        if configuration.layout == .padded {
            let fill = (start - readOffset) % length
            let unit = count + 2
            if fill > 0 && fill + unit > length {
                let padding = length - fill
                buffer.append(contentsOf: repeatElement(Alphabet.pad, count: padding))
                buffer.withUnsafeMutableBufferPointer { all in
                    let base = all.baseAddress.unsafelyUnwrapped + start
                    // Move <cls> residues right by `padding` (the ranges may overlap: memmove).
                    UnsafeMutableRawPointer(base + padding).copyMemory(from: base, byteCount: count + 1)
                    base.update(repeating: Alphabet.pad, count: padding)
                }
            }
        }
        buffer.append(Alphabet.sep)
    }
}
