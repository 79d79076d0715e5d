import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool generate`: samples proteins from a causal model in RNN mode.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample protein sequences from a causal model (RNN-mode decoding).",
        discussion: """
            Each sequence starts from <cls> followed by --prompt (if any); the model then draws one token at a \
            time until it draws <sep> or <eos> (the stop tokens; neither is written) or the sequence holds \
            --max-length residues, prompt included. Only the 20 standard amino acids and the two stop tokens \
            can be drawn. Logits are divided by --temperature (0 = always the most likely token); with --top-k K \
            only the K most likely candidates are kept. Every draw comes from one generator seeded by --seed: \
            the same model, flags and seed give the same sequences (on the same build and machine; another BLAS may \
            round differently).

            FAVOR models (favor-relu, favor-softmax) decode in RNN mode: per layer and head a running m×d state \
            replaces the prefix, so each residue costs the same however long the sequence is. Exact-attention \
            models use a key/value cache (each residue costs O(position)). Masked-LM (bidirectional) models \
            cannot generate.

            fasta: one record per sequence, '>gen_N' then key=value fields (length, prompt_length, stop = sep, \
            eos or max-length, log_likelihood = Σ ln p of the sampled tokens under the model's untempered \
            distribution, stop token included), the sequence wrapped at 60 columns. json: an object with model, \
            seed, temperature, top_k, max_length, prompt and sequences (id, sequence, length, prompt_length, \
            stop, log_likelihood).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case fasta, json }

    @Option(help: "Model file (model.safetensors or a training checkpoint; default: the bundled model).")
    var model: String?

    @Option(help: "Residues every sequence starts with (one-letter codes, either case).")
    var prompt: String = ""

    @Option(help: "Number of sequences.")
    var count: Int = 1

    @Option(name: .customLong("max-length"), help: "Most residues per sequence, prompt included.")
    var maxLength: Int = 500

    @Option(help: "Sampling temperature ≥ 0 (0: greedy).")
    var temperature: Double = 1

    @Option(name: .customLong("top-k"), help: "Sample among the K most likely tokens only (0: all).")
    var topK: Int = 0

    @Option(help: "Seed of the sampling generator.")
    var seed: UInt64 = 0

    @Option(help: "Output format: fasta or json.")
    var format: Format = .fasta

    @Option(help: "Output file (default: standard output), written atomically.")
    var out: String?

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be positive") }
        if maxLength < 1 { throw ValidationError("--max-length must be positive") }
        if !(temperature >= 0) || !temperature.isFinite { throw ValidationError("--temperature must be a number ≥ 0") }
        if topK < 0 { throw ValidationError("--top-k must be ≥ 0") }
        let residues = try promptTokens()
        if residues.count >= maxLength {
            throw ValidationError("--max-length \(maxLength) leaves no room after the \(residues.count)-residue prompt")
        }
    }

    /// The prompt as residue ids; a character that is not a residue letter is a usage error.
    func promptTokens() throws -> [TokenID] {
        var tokens: [TokenID] = []
        for (i, byte) in prompt.utf8.enumerated() {
            guard let id = Alphabet.id(for: byte) else {
                let shown = byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
                throw ValidationError("--prompt: '\(shown)' at position \(i + 1) is not an amino-acid letter")
            }
            tokens.append(id)
        }
        return tokens
    }

    func run() throws {
        let modelPath = try DefaultModel.resolve(model)
        let loaded = try ModelCheckpoint.load(path: modelPath)
        let generator: Generator
        do {
            generator = try Generator(model: loaded.model)
        } catch {
            throw CommandFailure("\(modelPath): \(error)")
        }
        let residues = try promptTokens()
        let sampling = SamplingConfiguration(temperature: temperature, topK: topK, maxLength: maxLength)
        var random = SeededGenerator(seed: seed)
        let sink = try OutputSink(path: out)
        var objects: [String] = []
        for n in 1...count {
            let sequence = generator.sample(prompt: residues, configuration: sampling, using: &random)
            let id = "gen_\(n)"
            switch format {
            case .fasta:
                try sink.write(">\(id) length=\(sequence.residues.count) prompt_length=\(sequence.promptLength) "
                    + "stop=\(sequence.stopReason.rawValue) log_likelihood=\(String(format: "%.4f", sequence.logLikelihood))\n")
                let text = Array(sequence.sequence.utf8)
                var start = 0
                while start < text.count {
                    let end = min(start + 60, text.count)
                    try text[start..<end].withUnsafeBufferPointer { try sink.write(bytes: $0) }
                    try sink.write("\n")
                    start = end
                }
                if text.isEmpty { try sink.write("\n") }
            case .json:
                objects.append(JSONText.object([
                    ("id", JSONText.string(id)),
                    ("sequence", JSONText.string(sequence.sequence)),
                    ("length", JSONText.number(sequence.residues.count)),
                    ("prompt_length", JSONText.number(sequence.promptLength)),
                    ("stop", JSONText.string(sequence.stopReason.rawValue)),
                    ("log_likelihood", JSONText.number(sequence.logLikelihood)),
                ]))
            }
        }
        if format == .json {
            try sink.write(JSONText.object([
                ("model", JSONText.string(modelPath)),
                ("seed", String(seed)),
                ("temperature", JSONText.number(temperature)),
                ("top_k", JSONText.number(topK)),
                ("max_length", JSONText.number(maxLength)),
                ("prompt", JSONText.string(Tokenizer.decode(residues))),
                ("sequences", JSONText.array(objects)),
            ]) + "\n")
        }
        try sink.finish()
    }
}
