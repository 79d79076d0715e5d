import Foundation

/// The trainer's live progress line on standard error:
///
/// `step  1200/100000  loss 2.8123  12,346 tok/s  ETA 1:23:45  val ppl 14.21`
///
/// On a terminal every `update` redraws the same line (`\r`, the text, erase-to-end-of-line);
/// elsewhere (a log file, a pipe, CI) only log steps print, each as a plain line, so a log has
/// no carriage returns and no flood of lines. Whether standard error is a terminal is a
/// parameter (default `isatty(2)`), so tests can choose.
public struct ProgressLine {
    /// Whether to redraw one line (terminal) or print plain lines at log steps.
    public let isTerminal: Bool
    private let output: (String) -> Void
    private var lastLine: String?

    /// - Parameters:
    ///   - isTerminal: default: whether standard error is a terminal.
    ///   - output: where the text goes; default: standard error, unbuffered.
    public init(isTerminal: Bool = isatty(STDERR_FILENO) != 0,
                output: @escaping (String) -> Void = ProgressLine.writeToStandardError) {
        self.isTerminal = isTerminal
        self.output = output
    }

    /// Shows `line` (from `format`): always on a terminal, only when `isLogStep` elsewhere.
    public mutating func update(_ line: String, isLogStep: Bool) {
        guard isTerminal || isLogStep else { return }
        output(ProgressLine.render(line, isTerminal: isTerminal))
        lastLine = line
    }

    /// Prints a line of its own (a validation result, a checkpoint notice) without garbling the
    /// progress line: on a terminal it replaces the progress line, then redraws it below.
    public mutating func message(_ text: String) {
        if isTerminal {
            output("\r\u{1B}[K" + text + "\n")
            if let lastLine { output(ProgressLine.render(lastLine, isTerminal: true)) }
        } else {
            output(text + "\n")
        }
    }

    /// Ends the redrawn line with a newline (terminal only), so the shell prompt starts below it.
    public mutating func finish() {
        if isTerminal, lastLine != nil { output("\n") }
        lastLine = nil
    }

    /// `line` as written to the stream: `"\r" + line + ESC[K` on a terminal, `line + "\n"` elsewhere.
    public static func render(_ line: String, isTerminal: Bool) -> String {
        isTerminal ? "\r" + line + "\u{1B}[K" : line + "\n"
    }

    /// The progress text. The step is right-aligned to the width of `totalSteps` so the line
    /// does not jump (`step N` alone when the run has no step count, e.g. `--time-limit` only);
    /// loss has 4 decimals; tokens/s is rounded with thousands separators; the ETA is `h:mm:ss`
    /// (`--:--:--` when unknown); `val ppl` (2 decimals) only when known. Missing or non-finite
    /// loss and throughput print as `-` and `nan`/`inf`.
    public static func format(step: Int, totalSteps: Int?, loss: Double?, tokensPerSecond: Double?,
                              etaSeconds: Double?, validationPerplexity: Double? = nil) -> String {
        let current = String(step)
        var parts: [String]
        if let totalSteps {
            let total = String(totalSteps)
            parts = ["step " + String(repeating: " ", count: max(0, total.count - current.count)) + current + "/" + total]
        } else {
            parts = ["step " + current]
        }
        parts.append("loss " + decimal(loss, places: 4))
        parts.append(grouped(tokensPerSecond) + " tok/s")
        parts.append("ETA " + duration(etaSeconds))
        if let validationPerplexity { parts.append("val ppl " + decimal(validationPerplexity, places: 2)) }
        return parts.joined(separator: "  ")
    }

    /// `seconds` as `h:mm:ss` (hours not capped: `123:04:05`), rounded to the nearest second;
    /// `--:--:--` for nil, negative or non-finite.
    public static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 3.6e15 else { return "--:--:--" }
        let total = Int(seconds.rounded())
        let h = total / 3600, m = total / 60 % 60, s = total % 60
        return "\(h):" + (m < 10 ? "0" : "") + "\(m):" + (s < 10 ? "0" : "") + "\(s)"
    }

    /// Expected seconds left from the steps done and the elapsed time (nil before the first step).
    public static func eta(stepsDone: Int, totalSteps: Int, elapsedSeconds: Double) -> Double? {
        guard stepsDone > 0, elapsedSeconds.isFinite, elapsedSeconds >= 0 else { return nil }
        return elapsedSeconds / Double(stepsDone) * Double(max(0, totalSteps - stepsDone))
    }

    static func decimal(_ x: Double?, places: Int) -> String {
        guard let x else { return "-" }
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        return String(format: "%.\(places)f", x)
    }

    /// A rounded number with `,` between thousands: 12345.6 → `12,346`.
    static func grouped(_ x: Double?) -> String {
        guard let x else { return "-" }
        guard x.isFinite, abs(x) < 9e18 else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        let n = Int(x.rounded())
        var digits = String(abs(n))
        var out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return (n < 0 ? "-" : "") + digits + out
    }

    /// Writes `text` to standard error at once (no buffering).
    public static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in write(STDERR_FILENO, raw.baseAddress.unsafelyUnwrapped + done, raw.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
