/// A few `PerformerLM.Workspace`s kept between passes, keyed by their exact (batch, length).
///
/// A workspace only runs inputs of exactly its batch × length, and for bidirectional models
/// padding is not free (`<pad>` tokens take part in attention), so inference never pads a
/// bidirectional input along its length: the cache reuses a workspace only when a later pass
/// has exactly the same shape (every masked copy of one protein, proteins of equal length,
/// causal proteins in one length bucket). Least recently used entries are dropped when there
/// are more than `maxEntries` or they hold more than `maxBytes` (the newest one always stays).
final class WorkspaceCache {
    struct Key: Hashable {
        var batch: Int
        var length: Int
    }

    let model: PerformerLM
    let maxEntries: Int
    let maxBytes: Int
    /// Whether the cache makes worker workspaces (`PerformerLM.makeWorkerWorkspace`: serial passes,
    /// for one of several threads) rather than plain ones.
    let workers: Bool
    /// Most recently used last.
    private var entries: [(key: Key, workspace: PerformerLM.Workspace)] = []
    /// Workspaces made so far (for tests: reuse means fewer than passes).
    private(set) var made = 0

    init(model: PerformerLM, maxEntries: Int = 4, maxBytes: Int = 1 << 30, workers: Bool = false) {
        precondition(maxEntries >= 1, "a workspace cache holds at least one entry")
        self.model = model
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.workers = workers
    }

    /// A workspace of exactly `batch` × `length`, reused when one is cached.
    func workspace(batch: Int, length: Int) -> PerformerLM.Workspace {
        let key = Key(batch: batch, length: length)
        if let i = entries.firstIndex(where: { $0.key == key }) {
            let entry = entries.remove(at: i)
            entries.append(entry)
            return entry.workspace
        }
        let workspace = workers
            ? model.makeWorkerWorkspace(batch: batch, length: length) : model.makeWorkspace(batch: batch, length: length)
        made += 1
        entries.append((key, workspace))
        var bytes = entries.reduce(0) { $0 + $1.workspace.byteCount }
        while entries.count > 1 && (entries.count > maxEntries || bytes > maxBytes) {
            bytes -= entries.removeFirst().workspace.byteCount
        }
        return workspace
    }

    /// Drops every cached workspace.
    func removeAll() { entries.removeAll() }
}
