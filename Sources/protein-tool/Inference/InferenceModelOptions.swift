import ArgumentParser
import Foundation
import PerformerModel

/// The model options `score` and `fill` share.
struct InferenceModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Model file (.safetensors); default $PROTEIN_PERFORMER_MODEL, else the bundled data/model.safetensors.",
        valueName: "path"))
    var model: String?

    /// Loads the model (`--model` or the bundled one).
    /// - Throws: `BundledFileError` when no model is found; the checkpoint loader's errors.
    func load() throws -> ModelCheckpoint.Loaded {
        try ModelCheckpoint.load(path: DefaultModel.resolve(model))
    }
}

extension ModelCheckpoint.Loaded {
    /// The training window in tokens: `seq_len` of the `training` metadata (the
    /// `TrainingConfiguration` JSON a trained model carries), or nil when the file has none.
    var trainingLength: Int? {
        guard let text = metadata["training"],
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let length = object["seq_len"] as? Int, length > 0 else { return nil }
        return length
    }
}

/// A one-line error from `score` or `fill` found while running (not a flag problem).
struct InferenceCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
