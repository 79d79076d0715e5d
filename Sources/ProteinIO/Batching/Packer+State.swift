extension Packer {
    /// Everything a checkpoint needs to continue packing exactly where it stopped.
    ///
    /// To resume: restore with `Packer(state:file:)`, skip the first `proteinsConsumed`
    /// records of the same (split-filtered) corpus, and push from the next one. The pending
    /// tokens (unread windows plus the partial one) are stored, so no protein is re-read into a
    /// window twice; their number is bounded as the buffer is (batch × L + one protein).
    public struct State: Sendable, Equatable, Codable {
        public var configuration: PackerConfiguration
        /// Tokens pushed but not yet handed out, in order.
        public var pendingTokens: [TokenID]
        /// The crop generator's four state words.
        public var generatorState: [UInt64]
        public var proteinsConsumed: Int
        public var windowsEmitted: Int
        public var residuesCropped: Int
        public var isFinished: Bool

        enum CodingKeys: String, CodingKey {
            case configuration
            case pendingTokens = "pending_tokens"
            case generatorState = "generator_state"
            case proteinsConsumed = "proteins_consumed"
            case windowsEmitted = "windows_emitted"
            case residuesCropped = "residues_cropped"
            case isFinished = "is_finished"
        }
    }

    /// A snapshot of the packer; `Packer(state:file:)` continues from it bit for bit.
    public var state: State {
        let g = generator.state
        return State(
            configuration: configuration, pendingTokens: Array(buffer[readOffset...]),
            generatorState: [g.0, g.1, g.2, g.3], proteinsConsumed: proteinsConsumed,
            windowsEmitted: windowsEmitted, residuesCropped: residuesCropped, isFinished: isFinished)
    }

    /// Restores a packer from a saved `state` read from `file`.
    ///
    /// - Throws: `ProteinIOError` `.integrity` when the state cannot have come from a packer:
    ///   a generator state that is not four words or is all zero, a token id outside the
    ///   vocabulary, negative counters, or a finished stream whose pending tokens are not
    ///   whole windows.
    public init(state: State, file: String) throws(ProteinIOError) {
        func bad(_ message: String) -> ProteinIOError {
            ProteinIOError(.integrity, file: file, message: "invalid packer state: " + message)
        }
        let g = state.generatorState
        guard g.count == 4 else { throw bad("generator state has \(g.count) words, expected 4") }
        guard g != [0, 0, 0, 0] else { throw bad("generator state is all zero") }
        if let i = state.pendingTokens.firstIndex(where: { Int($0) >= Alphabet.count }) {
            throw bad("pending token \(i) has id \(state.pendingTokens[i]), outside the vocabulary of \(Alphabet.count)")
        }
        guard state.proteinsConsumed >= 0, state.windowsEmitted >= 0, state.residuesCropped >= 0 else {
            throw bad("negative counter")
        }
        if state.isFinished && state.pendingTokens.count % state.configuration.windowLength != 0 {
            throw bad("finished stream holds \(state.pendingTokens.count) tokens, not whole windows of \(state.configuration.windowLength)")
        }
        self.init(configuration: state.configuration, seed: 0)
        buffer = state.pendingTokens
        generator = SeededGenerator(state: (g[0], g[1], g[2], g[3]))
        proteinsConsumed = state.proteinsConsumed
        windowsEmitted = state.windowsEmitted
        residuesCropped = state.residuesCropped
        isFinished = state.isFinished
    }
}
