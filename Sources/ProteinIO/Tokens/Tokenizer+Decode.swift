extension Tokenizer {
    /// Renders token ids for display: residues as their uppercase letter, special tokens as
    /// `<cls>`, `<sep>`, … (or nothing when `includeSpecial` is false), and an id outside the
    /// vocabulary as `<?n>` so a bad id is visible rather than a crash.
    ///
    /// `decode(tokenize(s))` is `s` uppercased, without trailing `*`, for any `s` made of
    /// alphabet letters.
    public static func decode<C: Collection>(_ ids: C, includeSpecial: Bool = true) -> String
    where C.Element == TokenID {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count)
        for id in ids {
            if let letter = Alphabet.character(for: id) {
                bytes.append(letter)
            } else if includeSpecial || Int(id) >= Alphabet.count {
                bytes.append(contentsOf: Alphabet.token(for: id).utf8)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
