import ArgumentParser
import PerformerModel

extension AttentionKind: ExpressibleByArgument {}
extension PerformerConfiguration.Preset: ExpressibleByArgument {}

/// Objectives a model is trained for; the raw values are the command-line names.
enum Objective: String, ExpressibleByArgument, CaseIterable {
    /// Masked-LM on bidirectional attention (BERT / ESM-1b style).
    case mlm
    /// Next-token prediction on causal attention.
    case causal
}

/// Model shape flags shared by `train` and `bench train`: a preset plus explicit overrides.
struct ModelShapeOptions: ParsableArguments {
    @Option(help: "Model size preset: tiny (dim 64, 2 layers, 4 heads, m 64), small (256, 4, 4, 128), base (512, 8, 8, 256).")
    var preset: PerformerConfiguration.Preset = .small

    @Option(help: "Attention kernel: favor-relu (Performer-ReLU), favor-softmax (FAVOR+), exact (softmax, O(L²)).")
    var attention: AttentionKind = .favorRelu

    @Option(help: "Training objective: mlm (masked LM, bidirectional) or causal (next token, unidirectional).")
    var objective: Objective = .mlm

    @Option(help: "Model width (overrides the preset).")
    var dim: Int?
    @Option(help: "Number of blocks (overrides the preset).")
    var layers: Int?
    @Option(help: "Attention heads per block (overrides the preset).")
    var heads: Int?
    @Option(help: "Random features m per head (FAVOR kernels; overrides the preset).")
    var features: Int?
    @Option(name: .customLong("ffn-dim"), help: "Feed-forward hidden width (default 4 × dim).")
    var ffnDim: Int?

    /// Whether any shape flag was given explicitly (a resumed run keeps its stored shape).
    var hasOverrides: Bool { dim != nil || layers != nil || heads != nil || features != nil || ffnDim != nil }

    func configuration() throws -> PerformerConfiguration {
        var c = PerformerConfiguration.preset(preset)
        if let dim {
            c.dim = dim
            if ffnDim == nil { c.ffnDim = 4 * dim }
        }
        if let layers { c.layers = layers }
        if let heads { c.heads = heads }
        if let features { c.features = features }
        if let ffnDim { c.ffnDim = ffnDim }
        c.attention = attention
        c.causal = objective == .causal
        guard attention != .identity else { throw ValidationError("identity attention is a benchmark baseline, not a model") }
        do {
            try c.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return c
    }
}
