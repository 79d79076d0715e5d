import Foundation
import ProteinIO

/// A model on disk: `.safetensors` with every parameter under its dotted name, each layer's
/// random-feature matrix as `blocks.{i}.attn.random_features` [m, dh], and in `__metadata__`:
///
/// | key              | value                                                        |
/// |------------------|--------------------------------------------------------------|
/// | `format`         | `protein-performer`                                          |
/// | `format_version` | `1`                                                          |
/// | `config`         | the `PerformerConfiguration` as JSON                         |
/// | `alphabet`       | the token layout (`Alphabet.serializedTokens`)               |
/// | `alphabet_name`  | its name (`protein-v1`)                                      |
/// | `model_seed`     | the seed the parameters and features were first drawn from   |
/// | others           | free-form (training summary), kept and returned on load      |
///
/// The tensors load in Python with `safetensors.numpy.load_file` (or torch) under the same names.
/// A training checkpoint is the same file plus the optimizer moments and the run's state (see
/// `Trainer`); it loads as a model too.
///
/// Loading is strict: a wrong format tag, a different alphabet, an invalid configuration, a
/// missing, unexpected or mis-shaped tensor, or a non-finite weight is a one-line
/// `CheckpointError` naming the file and the tensor.
public enum ModelCheckpoint {
    public static let formatTag = "protein-performer"
    public static let formatVersion = "1"

    /// Name of layer `layer`'s random-feature matrix.
    public static func randomFeaturesName(layer: Int) -> String { "blocks.\(layer).attn.random_features" }

    /// A writer holding the model's tensors and metadata; callers may add more before writing.
    public static func writer(model: PerformerLM, modelSeed: UInt64, extraMetadata: [String: String] = [:]) -> SafeTensorsWriter {
        var metadata = extraMetadata
        metadata["format"] = formatTag
        metadata["format_version"] = formatVersion
        metadata["config"] = jsonString(model.configuration)
        metadata["alphabet"] = Alphabet.protein.serializedTokens
        metadata["alphabet_name"] = Alphabet.protein.name
        metadata["model_seed"] = String(modelSeed)
        var writer = SafeTensorsWriter(metadata: metadata)
        for entry in model.parameters.entries {
            writer.add(name: entry.name, shape: entry.shape, floats: model.parameters.values.data + entry.offset)
        }
        for (layer, features) in model.randomFeatures.enumerated() {
            writer.add(name: randomFeaturesName(layer: layer), tensor: features.weights)
        }
        return writer
    }

    /// Writes `model` atomically to `path`.
    public static func save(
        _ model: PerformerLM, modelSeed: UInt64, to path: String, extraMetadata: [String: String] = [:]
    ) throws {
        try writer(model: model, modelSeed: modelSeed, extraMetadata: extraMetadata).write(to: path)
    }

    /// A loaded model and what came with it.
    public struct Loaded {
        public var model: PerformerLM
        public var modelSeed: UInt64
        public var metadata: [String: String]
        public var reader: SafeTensorsReader
    }

    /// Reads a model from `path` (a model file or a training checkpoint).
    ///
    /// - Parameter allowExtra: tensor names that may be present besides the model's (a training
    ///   checkpoint's optimizer state).
    /// - Throws: `CheckpointError` (see the type's description).
    public static func load(path: String, allowExtra: Set<String> = ["optimizer.m", "optimizer.v", "optimizer.step"]) throws -> Loaded {
        let reader = try SafeTensorsReader(path: path)
        func fail(_ message: String) -> CheckpointError { CheckpointError(.mismatch, file: path, message: message) }
        guard reader.metadata["format"] == formatTag else {
            throw fail("not a protein-performer model (metadata 'format' is \(reader.metadata["format"].map { "'\($0)'" } ?? "missing"))")
        }
        guard reader.metadata["format_version"] == formatVersion else {
            throw fail("model format version \(reader.metadata["format_version"] ?? "missing"), this build reads \(formatVersion)")
        }
        let stored = Alphabet(
            name: try reader.metadataValue("alphabet_name"), serializedTokens: try reader.metadataValue("alphabet"))
        do {
            try Alphabet.protein.validate(against: stored, file: path)
        } catch {
            throw fail(error.message)
        }
        let configuration: PerformerConfiguration
        do {
            configuration = try JSONDecoder().decode(
                PerformerConfiguration.self, from: Data(try reader.metadataValue("config").utf8))
            try configuration.validate()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail("bad model configuration in metadata: \(error)")
        }
        guard configuration.vocabSize == Alphabet.protein.count else {
            throw fail("vocab_size \(configuration.vocabSize), the alphabet has \(Alphabet.protein.count) tokens")
        }
        let parameters = ParameterStore(configuration: configuration)
        var expected = parameters.entries.map(\.name)
        for entry in parameters.entries {
            _ = try reader.expect(name: entry.name, shape: entry.shape)
            try reader.read(name: entry.name, shape: entry.shape, into: parameters.values.data + entry.offset)
        }
        var features: [RandomFeatures] = []
        if configuration.attention.usesRandomFeatures {
            for layer in 0..<configuration.layers {
                let name = randomFeaturesName(layer: layer)
                let shape = [configuration.features, configuration.headDim]
                _ = try reader.expect(name: name, shape: shape)
                let weights = Tensor(shape: shape)
                try reader.read(name: name, into: weights)
                features.append(RandomFeatures(weights: weights, distribution: configuration.featureDistribution))
                expected.append(name)
            }
        }
        try reader.checkNames(expected: expected + reader.names.filter { allowExtra.contains($0) })
        if let index = GradientClipping.firstNonFinite(parameters.values.data, count: parameters.count) {
            let entry = parameters.entries.first { $0.offset <= index && index < $0.offset + $0.count }
            throw fail("tensor \(entry?.name ?? "?") holds a NaN or infinite value")
        }
        let seed = UInt64(reader.metadata["model_seed"] ?? "0") ?? 0
        let model = PerformerLM(configuration: configuration, parameters: parameters, randomFeatures: features)
        return Loaded(model: model, modelSeed: seed, metadata: reader.metadata, reader: reader)
    }

    static func jsonString<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
