import Foundation

extension AdamW {
    /// Adds the optimizer state to a checkpoint: tensors `PREFIX.m` and `PREFIX.v` (F32 [P],
    /// streamed from the moment buffers, which the writer keeps alive) and `PREFIX.step` (I64,
    /// shape []), plus metadata `PREFIX.hyperparameters` (JSON, e.g.
    /// `{"beta1":0.9,"beta2":0.98,"epsilon":1e-08,"weight_decay":0.01}`) for people reading the file.
    public func addState(to writer: inout SafeTensorsWriter, prefix: String = "optimizer") {
        writer.add(name: prefix + ".m", tensor: m)
        writer.add(name: prefix + ".v", tensor: v)
        writer.add(name: prefix + ".step", shape: [], values: [Int64(stepCount)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(hyperparameters) {
            writer.metadata[prefix + ".hyperparameters"] = String(decoding: data, as: UTF8.self)
        }
    }

    /// Restores the state written by `addState(to:prefix:)`. The hyperparameters are this
    /// optimizer's own (a resumed run may change them); the stored ones are not read.
    ///
    /// - Throws: `CheckpointError` `.mismatch` when a tensor is missing or has another shape
    ///   (e.g. a checkpoint of a model with a different parameter count), `.corrupt` for a
    ///   negative step count.
    public func restoreState(from reader: SafeTensorsReader, prefix: String = "optimizer") throws(CheckpointError) {
        try reader.expect(name: prefix + ".step", shape: [], dtype: .i64)
        let step = try reader.int64s(name: prefix + ".step")[0]
        guard step >= 0 else { throw CheckpointError.corrupt(reader.path, "\(prefix).step is \(step), expected ≥ 0") }
        try reader.expect(name: prefix + ".m", shape: [parameterCount])
        try reader.expect(name: prefix + ".v", shape: [parameterCount])
        // Read into fresh buffers first so a failure leaves this optimizer unchanged.
        let newM = Tensor(shape: [parameterCount]), newV = Tensor(shape: [parameterCount])
        try reader.read(name: prefix + ".m", into: newM)
        try reader.read(name: prefix + ".v", into: newV)
        restore(stepCount: Int(step), m: newM.data, v: newV.data)
    }
}
