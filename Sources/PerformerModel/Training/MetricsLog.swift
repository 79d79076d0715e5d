import Foundation

/// One line of metrics.jsonl: what the trainer measured at a log step.
public struct MetricsRecord: Sendable, Equatable {
    /// Number of optimizer updates done (the t of the last update).
    public var step: Int
    /// Mean training loss (nats per target token) since the previous log line.
    public var loss: Double
    /// Learning rate of the last update.
    public var learningRate: Double
    /// Training throughput since the previous log line (input tokens per second).
    public var tokensPerSecond: Double
    /// Validation perplexity, when an evaluation ran at this step.
    public var validationPerplexity: Double?
    /// Global gradient norm before clipping, of the last update.
    public var gradientNorm: Double
    /// Wall-clock seconds since the run started (resumed runs continue the stored count).
    public var elapsedSeconds: Double

    public init(step: Int, loss: Double, learningRate: Double, tokensPerSecond: Double,
                validationPerplexity: Double? = nil, gradientNorm: Double, elapsedSeconds: Double) {
        self.step = step
        self.loss = loss
        self.learningRate = learningRate
        self.tokensPerSecond = tokensPerSecond
        self.validationPerplexity = validationPerplexity
        self.gradientNorm = gradientNorm
        self.elapsedSeconds = elapsedSeconds
    }

    /// The JSON object, keys always in this order:
    /// `{"step":1200,"loss":2.81234,"lr":0.0003,"tokens_per_s":12345.6,"val_ppl":14.2101,"grad_norm":0.912345,"elapsed_s":345.67}`
    /// (`val_ppl` only when present). Loss, lr, val_ppl and grad_norm have 6 significant digits
    /// (`%.6g`, e.g. `1e-05`), tokens_per_s one decimal, elapsed_s two. NaN and ±∞ are written
    /// as `null` (JSON has no such numbers).
    public var jsonLine: String {
        var fields: [(String, String)] = [
            ("step", String(step)),
            ("loss", MetricsRecord.number(loss, "%.6g")),
            ("lr", MetricsRecord.number(learningRate, "%.6g")),
            ("tokens_per_s", MetricsRecord.number(tokensPerSecond, "%.1f")),
        ]
        if let validationPerplexity { fields.append(("val_ppl", MetricsRecord.number(validationPerplexity, "%.6g"))) }
        fields.append(("grad_norm", MetricsRecord.number(gradientNorm, "%.6g")))
        fields.append(("elapsed_s", MetricsRecord.number(elapsedSeconds, "%.2f")))
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A JSON number, or `null` for NaN and ±∞. `%g` and `%f` output (`-1.5`, `1e-05`,
    /// `2.5e+10`) is valid JSON number syntax.
    static func number(_ x: Double, _ format: String) -> String {
        guard x.isFinite else { return "null" }
        return String(format: format, x)
    }
}

/// metrics.jsonl: one JSON object per line (`MetricsRecord.jsonLine`), each line written with
/// one `write(2)` as soon as it is appended, so `tail -f` and a crash both see whole lines.
///
/// Opening a log to resume a run at step s keeps only the lines up to s: it reads the file,
/// keeps the longest prefix of complete lines that parse as JSON objects with an integer
/// `"step"` ≤ s, and truncates the rest (lines written after the checkpoint the run resumes
/// from, and a line torn by a kill). The resumed run then appends its own lines for steps
/// > s, so no step appears twice.
public final class MetricsLog {
    public enum Mode: Sendable, Equatable {
        /// Start a new log (an existing file is emptied).
        case fresh
        /// Continue a log after the checkpoint of step `afterStep` (see the type's description).
        case resume(afterStep: Int)
    }

    /// The path as given.
    public let path: String
    /// Lines removed when the log was opened for resume.
    public private(set) var droppedLines = 0
    /// Lines kept when the log was opened for resume.
    public private(set) var keptLines = 0
    private var fd: Int32

    /// Opens (creating if needed) the log at `path`.
    ///
    /// - Throws: `CheckpointError` `.io` when the file cannot be opened, read or truncated.
    public init(path: String, mode: Mode) throws(CheckpointError) {
        self.path = path
        switch mode {
        case .fresh:
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CheckpointError.system(path, "cannot create the metrics log") }
        case .resume(let step):
            fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CheckpointError.system(path, "cannot open the metrics log") }
            do throws(CheckpointError) {
                let contents = try MetricsLog.readAll(fd: fd, path: path)
                let (keep, kept, dropped) = MetricsLog.prefixToKeep(contents, resumeStep: step)
                keptLines = kept
                droppedLines = dropped
                if keep < contents.count {
                    guard ftruncate(fd, off_t(keep)) == 0 else {
                        throw CheckpointError.system(path, "cannot truncate the metrics log to step \(step)")
                    }
                }
            } catch {
                closeDescriptor(fd)
                throw error
            }
        }
    }

    deinit { if fd >= 0 { closeDescriptor(fd) } }

    /// Appends one record as one line.
    /// - Throws: `CheckpointError` `.io` on a write error (e.g. a full disk).
    public func append(_ record: MetricsRecord) throws(CheckpointError) {
        guard fd >= 0 else { throw CheckpointError(.io, file: path, message: "the metrics log is closed") }
        let line = Array((record.jsonLine + "\n").utf8)
        var done = 0
        while done < line.count {
            let n = line.withUnsafeBytes { raw in writeDescriptor(fd, raw.baseAddress.unsafelyUnwrapped + done, line.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.system(path, "cannot append to the metrics log")
            }
            done += n
        }
    }

    /// Forces the lines written so far to disk (call it when a checkpoint is written).
    public func sync() throws(CheckpointError) {
        guard fd >= 0, fsync(fd) == 0 else { throw CheckpointError.system(path, "cannot sync the metrics log") }
    }

    /// Closes the file; later appends throw.
    public func close() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
    }

    private static func readAll(fd: Int32, path: String) throws(CheckpointError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.system(path, "cannot read the metrics log")
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            offset += n
        }
    }

    /// Byte length of the prefix to keep, and the numbers of kept and dropped lines.
    static func prefixToKeep(_ contents: [UInt8], resumeStep: Int) -> (bytes: Int, kept: Int, dropped: Int) {
        var start = 0
        var kept = 0
        var keepBytes = 0
        var stopped = false
        var dropped = 0
        while start < contents.count {
            let newline = contents[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? contents.count
            if !stopped {
                if newline != nil, let step = step(of: contents[start..<end]), step <= resumeStep {
                    kept += 1
                    keepBytes = end + 1
                } else {
                    stopped = true
                }
            }
            if stopped && end > start { dropped += 1 }
            start = end + 1
        }
        return (keepBytes, kept, dropped)
    }

    /// The integer `"step"` of a JSON object line, or nil if the line is not one.
    static func step(of line: ArraySlice<UInt8>) -> Int? {
        guard let json = try? StrictJSON.parse(Array(line)),
              case .object(let members) = json,
              let value = members.first(where: { $0.key == "step" })?.value
        else { return nil }
        return value.nonNegativeInt
    }
}

/// `close(2)` and `write(2)` under names that `MetricsLog.close()` does not shadow.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

private func writeDescriptor(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
