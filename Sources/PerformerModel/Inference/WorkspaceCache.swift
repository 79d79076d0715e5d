/// A few `PerformerLM.Workspace`s kept between passes, keyed by their (batch, length).
///
/// A workspace runs inputs of exactly its length, and of exactly its batch for training and for
/// passes that read everything the forward saved; a forward-only pass over fewer rows may run on
/// a larger batch's workspace (`atLeast`). The cache reuses a workspace when a later pass has the
/// same shape (every masked copy of one protein, proteins of one length bucket), or the same
/// length and fewer rows for forward-only passes. Least recently used entries are dropped when there
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

    /// A workspace of exactly `batch` × `length`, reused when one is cached; with `atLeast`, a
    /// cached one of this length and a larger batch serves as well (the smallest such), for
    /// forward-only passes over its first rows (`PerformerLM.forward(tokens:workspace:rowLengths:)`).
    func workspace(batch: Int, length: Int, atLeast: Bool = false) -> PerformerLM.Workspace {
        let key = Key(batch: batch, length: length)
        let fits = entries.indices.filter {
            entries[$0].key == key || (atLeast && entries[$0].key.length == length && entries[$0].key.batch > batch)
        }
        if let i = fits.min(by: { entries[$0].key.batch < entries[$1].key.batch }) {
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
