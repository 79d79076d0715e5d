/// Which attention a layer computes. The raw values are the stable names used on the command
/// line, in configurations and in checkpoints.
public enum AttentionKind: String, CaseIterable, Sendable, Codable {
    /// softmax(QKᵀ/√d)V, O(L²) — the baseline.
    case exact
    /// FAVOR+: positive orthogonal random features for the softmax kernel, O(L·m·d).
    case favorSoftmax = "favor-softmax"
    /// FAVOR with ReLU random features (generalized attention, Performer-ReLU), O(L·m·d).
    case favorRelu = "favor-relu"
    /// out = V: no attention at all; the floor a benchmark compares against.
    case identity

    /// Whether the kind needs a random-feature matrix W.
    public var usesRandomFeatures: Bool {
        self == .favorSoftmax || self == .favorRelu
    }
}
