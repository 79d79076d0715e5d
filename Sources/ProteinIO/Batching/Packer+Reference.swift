extension Packer {
    /// The naive twin of the streaming packer: builds the whole token stream of `proteins` in
    /// memory, then cuts it into windows. Same layout, same crop draws (in protein order from a
    /// generator seeded with `seed`), same final window. For tests on small inputs.
    public static func packReference(
        _ proteins: [[TokenID]], configuration: PackerConfiguration, seed: UInt64
    ) -> [[TokenID]] {
        let length = configuration.windowLength
        var generator = SeededGenerator(seed: seed)
        var stream: [TokenID] = []
        for protein in proteins where !protein.isEmpty {
            var residues = protein
            if protein.count > configuration.residueLimit {
                let offset = generator.nextInt(below: protein.count - configuration.residueLimit + 1)
                residues = Array(protein[offset ..< offset + configuration.residueLimit])
            }
            if configuration.layout == .padded {
                let used = stream.count % length
                if used > 0 && used + residues.count + 2 > length {
                    stream += [TokenID](repeating: Alphabet.pad, count: length - used)
                }
            }
            stream += [Alphabet.cls] + residues + [Alphabet.sep]
        }
        var windows: [[TokenID]] = []
        var start = 0
        while start + length <= stream.count {
            windows.append(Array(stream[start ..< start + length]))
            start += length
        }
        if start < stream.count && configuration.finalWindow == .pad {
            let tail = Array(stream[start...])
            windows.append(tail + [TokenID](repeating: Alphabet.pad, count: length - tail.count))
        }
        return windows
    }
}
