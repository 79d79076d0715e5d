import ProteinIO

/// All trainable parameters of a model in ONE flat Float32 buffer (`values`), their gradients in
/// a second buffer of the same size (`gradients`), and a table of named views (`entries`) into
/// both. An optimizer step is one loop over the flat buffers; a checkpoint is a walk over the
/// entries; a training step zeroes `gradients` once and the backward pass accumulates into it.
///
/// Names are stable dotted keys (they are the checkpoint's tensor names). For a
/// `PerformerConfiguration` with D = dim, F = ffnDim, V = vocabSize, in this order:
///
/// | name                              | shape   | decays | init                         |
/// |-----------------------------------|---------|--------|------------------------------|
/// | `embedding.weight`                | [V, D]  | yes    | N(0, 0.02²)                  |
/// | `blocks.{i}.attn_norm.weight`     | [D]     | no     | 1                            |
/// | `blocks.{i}.attn_norm.bias`       | [D]     | no     | 0                            |
/// | `blocks.{i}.attn.wq` / `.bq`      | [D, D] / [D] | yes / no | N(0, 0.02²) / 0         |
/// | `blocks.{i}.attn.wk` / `.bk`      | [D, D] / [D] | yes / no | N(0, 0.02²) / 0         |
/// | `blocks.{i}.attn.wv` / `.bv`      | [D, D] / [D] | yes / no | N(0, 0.02²) / 0         |
/// | `blocks.{i}.attn.wo` / `.bo`      | [D, D] / [D] | yes / no | N(0, (0.02/√(2·layers))²) / 0 |
/// | `blocks.{i}.ffn_norm.weight/bias` | [D]     | no     | 1 / 0                        |
/// | `blocks.{i}.ffn.w1` / `.b1`       | [D, F] / [F] | yes / no | N(0, 0.02²) / 0         |
/// | `blocks.{i}.ffn.w2` / `.b2`       | [F, D] / [D] | yes / no | N(0, (0.02/√(2·layers))²) / 0 |
/// | `final_norm.weight` / `.bias`     | [D]     | no     | 1 / 0                        |
/// | `lm_head.bias`                    | [V]     | no     | 0                            |
///
/// Every projection matrix is stored **[in, out]**, so a layer computes y = x·W + b on row
/// vectors (x [rows, in], y [rows, out]) with one non-transposed GEMM. The LM head has no weight
/// of its own: it is tied to `embedding.weight` (logits = x·Eᵀ + b).
public final class ParameterStore {
    /// One named tensor inside the flat buffers.
    public struct Entry: Sendable, Equatable {
        /// Stable dotted name, e.g. `blocks.3.attn.wq`.
        public let name: String
        /// Dimensions, outermost first (row-major).
        public let shape: [Int]
        /// Index of the first element in `values` / `gradients`.
        public let offset: Int
        /// Number of elements, the product of `shape`.
        public let count: Int
        /// Whether weight decay applies: true for matrices and the embedding, false for biases and
        /// LayerNorm parameters.
        public let decays: Bool

        public init(name: String, shape: [Int], offset: Int, decays: Bool) {
            self.name = name
            self.shape = shape
            self.offset = offset
            self.count = shape.reduce(1, *)
            self.decays = decays
        }
    }

    /// Every entry in layout order; offsets are contiguous from 0 to `count`.
    public let entries: [Entry]
    /// All parameter values, [count].
    public let values: Tensor
    /// All gradients, [count], in the same layout; the backward pass accumulates into it.
    public let gradients: Tensor
    private let index: [String: Int]

    /// Total number of parameters.
    public var count: Int { values.count }

    /// A store with the given (name, shape, decays) entries, laid out one after another, all zero.
    /// Names must be unique.
    public init(layout: [(name: String, shape: [Int], decays: Bool)]) {
        var entries: [Entry] = []
        var offset = 0
        for item in layout {
            let entry = Entry(name: item.name, shape: item.shape, offset: offset, decays: item.decays)
            entries.append(entry)
            offset += entry.count
        }
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() {
            precondition(index[entry.name] == nil, "duplicate parameter name \(entry.name)")
            index[entry.name] = i
        }
        self.entries = entries
        self.index = index
        self.values = Tensor(shape: [offset])
        self.gradients = Tensor(shape: [offset])
    }

    /// The zero-filled store of a model configuration (the layout in the table above), e.g. for a
    /// checkpoint loader to fill through `pointer(_:)`.
    public convenience init(configuration: PerformerConfiguration) {
        self.init(layout: ParameterStore.layout(configuration))
    }

    /// The store of a configuration initialised from `seed` (see `initialize(configuration:seed:)`).
    public convenience init(configuration: PerformerConfiguration, seed: UInt64) {
        self.init(configuration: configuration)
        initialize(configuration: configuration, seed: seed)
    }

    /// The entries of a model configuration, in layout order.
    public static func layout(_ c: PerformerConfiguration) -> [(name: String, shape: [Int], decays: Bool)] {
        let d = c.dim, f = c.ffnDim, v = c.vocabSize
        var layout: [(name: String, shape: [Int], decays: Bool)] = [("embedding.weight", [v, d], true)]
        for i in 0..<c.layers {
            let p = "blocks.\(i)."
            layout += [
                (p + "attn_norm.weight", [d], false), (p + "attn_norm.bias", [d], false),
                (p + "attn.wq", [d, d], true), (p + "attn.bq", [d], false),
                (p + "attn.wk", [d, d], true), (p + "attn.bk", [d], false),
                (p + "attn.wv", [d, d], true), (p + "attn.bv", [d], false),
                (p + "attn.wo", [d, d], true), (p + "attn.bo", [d], false),
                (p + "ffn_norm.weight", [d], false), (p + "ffn_norm.bias", [d], false),
                (p + "ffn.w1", [d, f], true), (p + "ffn.b1", [f], false),
                (p + "ffn.w2", [f, d], true), (p + "ffn.b2", [d], false),
            ]
        }
        layout += [("final_norm.weight", [d], false), ("final_norm.bias", [d], false), ("lm_head.bias", [v], false)]
        return layout
    }

    /// Overwrites every value with the initialisation for `seed`: matrices and the embedding
    /// N(0, 0.02²), the output projections `attn.wo` and `ffn.w2` N(0, (0.02/√(2·layers))²)
    /// (GPT-2's residual scaling, so the residual stream's variance does not grow with depth),
    /// biases 0, LayerNorm weights 1. One `SeededGenerator(seed:)` is walked over the matrices in
    /// layout order, row-major (Box–Muller in Double), so a seed pins every value on every machine.
    public func initialize(configuration: PerformerConfiguration, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let std: Double = 0.02
        let outputStd = std / (2 * Double(configuration.layers)).squareRoot()
        for entry in entries {
            let p = values.data + entry.offset
            if entry.name.hasSuffix("norm.weight") {
                p.update(repeating: 1, count: entry.count)
            } else if !entry.decays {
                p.update(repeating: 0, count: entry.count)
            } else {
                let sigma = entry.name.hasSuffix(".wo") || entry.name.hasSuffix(".w2") ? outputStd : std
                for i in 0..<entry.count { p[i] = Float(sigma * generator.nextGaussian()) }
            }
        }
    }

    /// The entry called `name`, or nil.
    public func entry(named name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// The entry called `name`, or nil.
    public subscript(name: String) -> Entry? { entry(named: name) }

    /// Start of the values of `name` (which must exist).
    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> {
        values.data + required(name).offset
    }

    /// Start of the gradients of `name` (which must exist).
    public func gradient(_ name: String) -> UnsafeMutablePointer<Float> {
        gradients.data + required(name).offset
    }

    /// Sets every gradient to 0 (once per optimizer step, before the first micro-batch).
    public func zeroGradients() {
        gradients.zero()
    }

    private func required(_ name: String) -> Entry {
        guard let entry = entry(named: name) else {
            // fatalError, not preconditionFailure: this module is built -Ounchecked, where a failed
            // precondition is undefined behaviour rather than a trap.
            fatalError("no parameter named \(name)")
        }
        return entry
    }
}
