extension Alphabet {
    /// The token strings in id order joined by single spaces, e.g.
    /// `<pad> <mask> <cls> <eos> <sep> <unk> A C D … Y B Z X U O`: one line for a checkpoint's
    /// string-to-string metadata (safetensors `__metadata__`), next to `name`.
    public var serializedTokens: String { tokens.joined(separator: " ") }

    /// Reads back a description written as `name` + `serializedTokens`. Any string parses (the
    /// tokens are split on single spaces); whether it is the right layout is `validate`'s job.
    public init(name: String, serializedTokens: String) {
        let parts = serializedTokens.split(separator: " ", omittingEmptySubsequences: false)
        self.init(name: name, tokens: serializedTokens.isEmpty ? [] : parts.map(String.init))
    }

    /// Checks that `stored` (read from `file`, e.g. a checkpoint) describes exactly this layout:
    /// the same tokens at the same ids, the same count and the same name.
    ///
    /// - Throws: `ProteinIOError` of kind `.integrity` naming the first difference, e.g.
    ///   `model.safetensors: alphabet mismatch at id 6: file has 'C', this build has 'A'`.
    public func validate(against stored: Alphabet, file: String) throws(ProteinIOError) {
        func mismatch(_ what: String) -> ProteinIOError {
            ProteinIOError(.integrity, file: file, message: "alphabet mismatch \(what)")
        }
        for i in 0..<min(tokens.count, stored.tokens.count) where tokens[i] != stored.tokens[i] {
            throw mismatch("at id \(i): file has '\(stored.tokens[i])', this build has '\(tokens[i])'")
        }
        if stored.tokens.count != tokens.count {
            let extra = stored.tokens.count > tokens.count
                ? "file has extra token '\(stored.tokens[tokens.count])' at id \(tokens.count)"
                : "file lacks '\(tokens[stored.tokens.count])' at id \(stored.tokens.count)"
            throw mismatch("in size: file has \(stored.tokens.count) tokens, this build has \(tokens.count) (\(extra))")
        }
        if stored.name != name {
            throw mismatch("in name: file has layout '\(stored.name)', this build has '\(name)'")
        }
    }
}
